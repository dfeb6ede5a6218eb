package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeTopic returns key -> config for one topic.
func describeTopic(t testing.TB, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctxT(t, 15*time.Second), topic)
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs of %s: %v %v", topic, err, rc.Err)
	}
	out := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

func wantConfig(t testing.TB, cfgs map[string]kadm.Config, key, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := cfgs[key]
	if !ok {
		t.Errorf("config %s missing from DescribeConfigs", key)
		return
	}
	if c.MaybeValue() != value || c.Source != source {
		t.Errorf("config %s = %q (source %v), want %q (source %v)", key, c.MaybeValue(), c.Source, value, source)
	}
}

// TestAdminTopicLifecycle: create with configs, describe with sources,
// incremental and legacy alter, create partitions, delete, re-create with
// a new topic id, and the errors Kafka gives for bad requests.
func TestAdminTopicLifecycle(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t, testutil.WithOverride("log.segment.bytes", "10485760"))
	adm := b.Admin(t)
	ctx := ctxT(t, 60*time.Second)
	topic := topicName(t)

	created := createTopic(t, adm, topic, 3, map[string]*string{
		"retention.ms":      sp("123456789"),
		"cleanup.policy":    sp("delete"),
		"max.message.bytes": sp("2000000"),
	})
	if created.ID == (kadm.TopicID{}) {
		t.Errorf("CreateTopics returned a zero topic id")
	}

	cfgs := describeTopic(t, adm, topic)
	wantConfig(t, cfgs, "retention.ms", "123456789", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "max.message.bytes", "2000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "segment.bytes", "10485760", kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, cfgs, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cfgs, "compression.type", "producer", kmsg.ConfigSourceDefaultConfig)
	// Synonyms (DescribeConfigs v1+, kadm asks for them): the broker key
	// behind segment.bytes, first as set statically, then its default.
	var syns []string
	for _, sy := range cfgs["segment.bytes"].Synonyms {
		v := "<nil>"
		if sy.Value != nil {
			v = *sy.Value
		}
		syns = append(syns, fmt.Sprintf("%s=%s(%v)", sy.Key, v, sy.Source))
	}
	if want := "log.segment.bytes=10485760(STATIC_BROKER_CONFIG) log.segment.bytes=1073741824(DEFAULT_CONFIG)"; !strings.Contains(strings.Join(syns, " "), want) {
		t.Errorf("segment.bytes synonyms %v, want them to include %s", syns, want)
	}
	if rcs, err := adm.DescribeTopicConfigs(ctx, "no-such-topic-"+topic); err != nil || len(rcs) != 1 || !errors.Is(rcs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("describe configs of a missing topic: %v %+v, want UNKNOWN_TOPIC_OR_PARTITION", err, rcs)
	}

	// Incremental: set one, delete another.
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.bytes", Value: sp("1048576")},
		{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
	}, topic)
	if err == nil {
		_, err = ar.On(topic, nil)
	}
	if err != nil || ar[0].Err != nil {
		t.Fatalf("incremental alter: %v %v", err, ar)
	}
	cfgs = describeTopic(t, adm, topic)
	wantConfig(t, cfgs, "retention.bytes", "1048576", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "retention.ms", "123456789", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)

	// Legacy AlterConfigs replaces the whole set: retention.* revert.
	ar, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: sp("3600000")}}, topic)
	if err != nil || len(ar) != 1 || ar[0].Err != nil {
		t.Fatalf("legacy alter: %v %v", err, ar)
	}
	cfgs = describeTopic(t, adm, topic)
	wantConfig(t, cfgs, "segment.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cfgs, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)

	// Bad alters.
	ar, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("not-a-number")}}, topic)
	if err != nil || len(ar) != 1 || !errors.Is(ar[0].Err, kerr.InvalidConfig) {
		t.Errorf("alter retention.ms=not-a-number: %v %+v, want INVALID_CONFIG(40)", err, ar)
	}
	ar, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.config", Value: sp("1")}}, topic)
	if err != nil || len(ar) != 1 || !errors.Is(ar[0].Err, kerr.InvalidConfig) {
		t.Errorf("alter unknown key: %v %+v, want INVALID_CONFIG(40)", err, ar)
	}
	ar, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("1")}}, "no-such-topic-"+topic)
	if err != nil || len(ar) != 1 || !errors.Is(ar[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter a missing topic: %v %+v, want UNKNOWN_TOPIC_OR_PARTITION(3)", err, ar)
	}

	// APPEND / SUBTRACT on a list config; not allowed on a scalar one.
	alter1 := func(op kadm.IncrementalOp, key, value string) error {
		t.Helper()
		ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: key, Value: sp(value)}}, topic)
		if err != nil {
			t.Fatalf("alter %s: %v", key, err)
		}
		return ar[0].Err
	}
	// Kafka appends to the current value, the default when unset.
	if err := alter1(kadm.AppendConfig, "cleanup.policy", "compact"); err != nil {
		t.Errorf("APPEND cleanup.policy compact: %v", err)
	}
	wantConfig(t, describeTopic(t, adm, topic), "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
	if err := alter1(kadm.SubtractConfig, "cleanup.policy", "delete"); err != nil {
		t.Errorf("SUBTRACT cleanup.policy delete: %v", err)
	}
	wantConfig(t, describeTopic(t, adm, topic), "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	if err := alter1(kadm.AppendConfig, "retention.ms", "5"); !errors.Is(err, kerr.InvalidConfig) {
		c := describeTopic(t, adm, topic)["retention.ms"]
		t.Errorf("APPEND on retention.ms (not a list): %v (retention.ms is now %q from %v), want INVALID_CONFIG(40)", err, c.MaybeValue(), c.Source)
		if ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, topic); err != nil || ar[0].Err != nil {
			t.Fatalf("delete retention.ms: %v %+v", err, ar)
		}
	}
	if ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "cleanup.policy"}}, topic); err != nil || ar[0].Err != nil {
		t.Fatalf("delete cleanup.policy: %v %+v", err, ar)
	}
	wantConfig(t, describeTopic(t, adm, topic), "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	// Validate-only requests change nothing.
	if vr, err := adm.ValidateCreateTopics(ctx, 1, 1, nil, topic+"-validate"); err != nil || vr[topic+"-validate"].Err != nil {
		t.Errorf("validate-only create: %v %+v", err, vr)
	}
	if vp, err := adm.ValidateCreatePartitions(ctx, 4, topic); err != nil || vp[topic].Err != nil {
		t.Errorf("validate-only create partitions: %v %+v", err, vp[topic])
	}
	if td, err := adm.ListTopics(ctx); err != nil || td.Has(topic+"-validate") || len(td[topic].Partitions) != 3 {
		t.Errorf("validate-only requests changed the cluster: %v, validate topic listed %v, %d partitions", err, td.Has(topic+"-validate"), len(td[topic].Partitions))
	}

	// Create partitions: 3 -> 5, the new ones are usable.
	cp, err := adm.CreatePartitions(ctx, 2, topic)
	if err != nil || cp[topic].Err != nil {
		t.Fatalf("create partitions: %v %v", err, cp)
	}
	testutil.WaitFor(t, 10*time.Second, "metadata to show 5 partitions", func() (bool, string) {
		md, err := adm.Metadata(ctxT(t, 5*time.Second), topic)
		if err != nil {
			return false, err.Error()
		}
		n := len(md.Topics[topic].Partitions)
		return n == 5, strconv.Itoa(n) + " partitions"
	})
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, cl, &kgo.Record{Topic: topic, Partition: 4, Value: []byte("in new partition")})
	cp, err = adm.UpdatePartitions(ctx, 2, topic)
	if err != nil || !errors.Is(cp[topic].Err, kerr.InvalidPartitions) {
		t.Errorf("shrink to 2 partitions: %v %+v, want INVALID_PARTITIONS(37)", err, cp[topic])
	}

	// Create errors.
	cr, err := tryCreate(ctx, adm, 1, 1, nil, topic)
	if err != nil || !errors.Is(cr.Err, kerr.TopicAlreadyExists) {
		t.Errorf("create existing topic: %v %v, want TOPIC_ALREADY_EXISTS(36)", err, cr.Err)
	}
	for _, bad := range []string{"bad/name", "..", "with space", strings.Repeat("a", 250)} {
		cr, err := tryCreate(ctx, adm, 1, 1, nil, bad)
		if err != nil || !errors.Is(cr.Err, kerr.InvalidTopicException) {
			t.Errorf("create topic %q: %v %v, want INVALID_TOPIC_EXCEPTION(17)", bad, err, cr.Err)
		}
	}
	cr, err = tryCreate(ctx, adm, 1, 1, map[string]*string{"no.such.config": sp("x")}, topic+"-x")
	if err != nil || !errors.Is(cr.Err, kerr.InvalidConfig) {
		t.Errorf("create with unknown config: %v %v, want INVALID_CONFIG(40)", err, cr.Err)
	}
	cr, err = tryCreate(ctx, adm, 0, 1, nil, topic+"-y")
	if err != nil || !errors.Is(cr.Err, kerr.InvalidPartitions) {
		t.Errorf("create with 0 partitions: %v %v, want INVALID_PARTITIONS(37)", err, cr.Err)
	}
	cr, err = tryCreate(ctx, adm, 1, 3, nil, topic+"-z")
	if err != nil || !errors.Is(cr.Err, kerr.InvalidReplicationFactor) {
		t.Errorf("create with replication factor 3 on one broker: %v %v, want INVALID_REPLICATION_FACTOR(38)", err, cr.Err)
	}

	// Delete, then re-create: a new topic id, no old data.
	dr, err := adm.DeleteTopics(ctx, topic)
	if err != nil || dr[topic].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr[topic])
	}
	testutil.WaitFor(t, 15*time.Second, "topic to disappear from ListTopics", func() (bool, string) {
		td, err := adm.ListTopics(ctxT(t, 5*time.Second))
		if err != nil {
			return false, err.Error()
		}
		return !td.Has(topic), "still listed"
	})
	dr, err = adm.DeleteTopics(ctx, topic)
	if err != nil || !errors.Is(dr[topic].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete again: %v %+v, want UNKNOWN_TOPIC_OR_PARTITION", err, dr[topic])
	}
	var again kadm.CreateTopicResponse
	testutil.WaitFor(t, 15*time.Second, "re-create after delete", func() (bool, string) {
		r, err := tryCreate(ctxT(t, 5*time.Second), adm, 2, 1, nil, topic)
		if err != nil {
			return false, err.Error()
		}
		again = r
		return r.Err == nil, "create: " + errString(r.Err)
	})
	if again.ID == created.ID || again.ID == (kadm.TopicID{}) {
		t.Errorf("re-created topic id %v, old %v: Kafka gives a new id (KIP-516)", again.ID, created.ID)
	}
	// A consumer still holding the old id is told so.
	freq := fetchReq(13, 0, -1, 0)
	addFetchPartition(freq, "", created.ID, 0, 0, 1<<20)
	fresp := testutil.DialRaw(t, b.Addr()).Request(freq).(*kmsg.FetchResponse)
	fcode := fresp.ErrorCode
	if fcode == 0 && len(fresp.Topics) == 1 && len(fresp.Topics[0].Partitions) == 1 {
		fcode = fresp.Topics[0].Partitions[0].ErrorCode
	}
	if fcode != kerr.UnknownTopicID.Code {
		t.Errorf("Fetch v13 with the deleted topic's id: %s, want UNKNOWN_TOPIC_ID(100)", codeName(fcode))
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := md.Topics[topic]; got.ID != again.ID || len(got.Partitions) != 2 {
		t.Errorf("metadata after re-create: id %v partitions %d, want %v and 2", got.ID, len(got.Partitions), again.ID)
	}
	cfgs = describeTopic(t, adm, topic)
	wantConfig(t, cfgs, "segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Errorf("re-created topic %s[%d] has end offset %d: old data survived", topic, o.Partition, o.Offset)
		}
	})
}

// tryCreate creates one topic; the error is the request's, the topic's
// outcome is in the response's Err.
func tryCreate(ctx context.Context, adm *kadm.Client, partitions int32, rf int16, configs map[string]*string, topic string) (kadm.CreateTopicResponse, error) {
	rs, err := adm.CreateTopics(ctx, partitions, rf, configs, topic)
	if err != nil {
		return kadm.CreateTopicResponse{}, err
	}
	r, ok := rs[topic]
	if !ok {
		return r, errors.New("topic missing from the CreateTopics response")
	}
	return r, nil
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestAdminClusterAndLogDirs: DescribeCluster and DescribeLogDirs answer
// with this broker and the topic's partitions.
func TestAdminClusterAndLogDirs(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	ctx := ctxT(t, 30*time.Second)
	topic := topicName(t)
	createTopic(t, adm, topic, 2, nil)
	produceSync(t, b.Client(t), &kgo.Record{Topic: topic, Value: []byte("x")})

	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Port != int32(b.Port()) || md.Brokers[0].Host != "127.0.0.1" {
		t.Errorf("brokers %+v, want one at 127.0.0.1:%d", md.Brokers, b.Port())
	}
	if md.Cluster == "" {
		t.Errorf("empty cluster id")
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dcr, err := dc.RequestWith(ctx, b.Client(t))
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	if dcr.ErrorCode != 0 || len(dcr.Brokers) != 1 || dcr.Brokers[0].Port != int32(b.Port()) || dcr.ClusterID != md.Cluster {
		t.Errorf("DescribeCluster: %s, brokers %+v, cluster %q; want one broker on port %d, cluster %q", codeName(dcr.ErrorCode), dcr.Brokers, dcr.ClusterID, b.Port(), md.Cluster)
	}

	dirs, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
	if err != nil {
		t.Fatalf("describe log dirs: %v", err)
	}
	found := 0
	dirs.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			t.Errorf("log dir %s: %v", d.Dir, d.Err)
		}
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == topic {
				found++
			}
		})
	})
	if found != 2 {
		t.Errorf("DescribeLogDirs lists %d partitions of %s, want 2: %+v", found, topic, dirs)
	}
}

// TestAdminManyTopics: 100 topics in one CreateTopics request, all listed,
// all deleted in one DeleteTopics request, and none back after a restart.
func TestAdminManyTopics(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	ctx := ctxT(t, 60*time.Second)
	prefix := topicName(t)
	var names []string
	for i := 0; i < 100; i++ {
		names = append(names, fmt.Sprintf("%s-%03d", prefix, i))
	}
	cr, err := adm.CreateTopics(ctx, 2, 1, nil, names...)
	if err != nil || cr.Error() != nil {
		t.Fatalf("create 100 topics: %v %v", err, cr.Error())
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if d, ok := td[n]; !ok || len(d.Partitions) != 2 {
			t.Fatalf("topic %s not listed with 2 partitions: %+v", n, d)
		}
	}
	dr, err := adm.DeleteTopics(ctx, names...)
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete 100 topics: %v %v", err, dr.Error())
	}
	b.Restart()
	td, err = b.Admin(t).ListTopics(ctxT(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if td.Has(n) {
			t.Fatalf("deleted topic %s is listed after a restart", n)
		}
	}
}

package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicConfigsApplied: topic configs change what the broker does, not
// only what DescribeConfigs says: message.timestamp.type, the timestamp
// bounds, compression.type (recompression) and auto-creation defaults.
func TestTopicConfigsApplied(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t, testutil.WithOverride("num.partitions", "3"))
	adm := b.Admin(t)

	t.Run("LogAppendTime", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, adm, topic, 1, map[string]*string{"message.timestamp.type": sp("LogAppendTime")})
		rc := testutil.DialRaw(t, b.Addr())
		before := time.Now().Add(-time.Second).UnixMilli()
		old := time.Now().Add(-10 * time.Minute).UnixMilli()
		batch := buildBatch(batchOpts{baseTimestamp: old, producerID: -1, producerEpoch: -1, baseSequence: -1},
			rawRecord{value: []byte("a")}, rawRecord{value: []byte("b"), tsDelta: 5})
		p := produceRaw(t, rc, -1, topic, batch)
		after := time.Now().Add(time.Second).UnixMilli()
		if p.ErrorCode != 0 || p.LogAppendTime < before || p.LogAppendTime > after {
			t.Fatalf("produce to a LogAppendTime topic: %s LogAppendTimeMs %d, want NONE and the broker's clock (%d..%d)", codeName(p.ErrorCode), p.LogAppendTime, before, after)
		}
		req := fetchReq(12, 0, -1, 0)
		addFetchPartition(req, topic, [16]byte{}, 0, 0, 1<<20)
		fr := rc.Request(req).(*kmsg.FetchResponse)
		rb := fr.Topics[0].Partitions[0].RecordBatches
		if len(rb) < 61 {
			t.Fatalf("fetch: %d bytes", len(rb))
		}
		attrs := binary.BigEndian.Uint16(rb[21:])
		maxTS := int64(binary.BigEndian.Uint64(rb[35:]))
		if attrs&0x08 == 0 || maxTS != p.LogAppendTime {
			t.Errorf("stored batch attributes %#x maxTimestamp %d; want the LogAppendTime bit (0x08) and maxTimestamp = %d", attrs, maxTS, p.LogAppendTime)
		}
		for _, r := range consumeAll(t, b, topic)[0] {
			if r.Timestamp.UnixMilli() != p.LogAppendTime {
				t.Errorf("consumed record timestamp %d, want the log append time %d", r.Timestamp.UnixMilli(), p.LogAppendTime)
			}
		}
	})

	t.Run("timestamp-bounds", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, adm, topic, 1, map[string]*string{"message.timestamp.before.max.ms": sp("60000")})
		rc := testutil.DialRaw(t, b.Addr())
		at := func(ts int64) []byte {
			return buildBatch(batchOpts{baseTimestamp: ts, producerID: -1, producerEpoch: -1, baseSequence: -1}, rawRecord{value: []byte("x")})
		}
		wantCode(t, "timestamp 2 h ahead (after.max.ms is 1 h)", produceRaw(t, rc, -1, topic, at(time.Now().Add(2*time.Hour).UnixMilli())).ErrorCode, kerr.InvalidTimestamp.Code)
		wantCode(t, "timestamp 10 min old with before.max.ms=60000", produceRaw(t, rc, -1, topic, at(time.Now().Add(-10*time.Minute).UnixMilli())).ErrorCode, kerr.InvalidTimestamp.Code)
		wantCode(t, "timestamp now", produceRaw(t, rc, -1, topic, at(time.Now().UnixMilli())).ErrorCode, 0)
	})

	t.Run("compression.type", func(t *testing.T) {
		for _, tc := range []struct {
			topicCodec string
			producer   kgo.CompressionCodec
			want       int
		}{
			{"gzip", kgo.Lz4Compression(), 1},
			{"uncompressed", kgo.ZstdCompression(), 0},
			{"zstd", kgo.NoCompression(), 4},
			{"producer", kgo.SnappyCompression(), 2},
		} {
			topic := topicName(t) + "-" + tc.topicCodec
			createTopic(t, adm, topic, 1, map[string]*string{"compression.type": sp(tc.topicCodec)})
			cl := b.Client(t, kgo.ProducerBatchCompression(tc.producer), kgo.ProducerLinger(10*time.Millisecond))
			var recs []*kgo.Record
			for i := 0; i < 100; i++ {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte{byte(i)}, Value: []byte("compress me compress me compress me")})
			}
			produceSync(t, cl, recs...)
			for _, c := range fetchCodecs(t, b, topic, 0) {
				if c != tc.want {
					t.Errorf("compression.type=%s: stored codec %s, want %s (Kafka recompresses to the topic's codec)", tc.topicCodec, codecNames[c], codecNames[tc.want])
					break
				}
			}
			got := consumeAll(t, b, topic)[0]
			if len(got) != 100 {
				t.Errorf("compression.type=%s: consumed %d of 100", tc.topicCodec, len(got))
				continue
			}
			for i, r := range got {
				if r.Offset != int64(i) || r.Key[0] != byte(i) {
					t.Errorf("compression.type=%s: record %d is offset %d key %v", tc.topicCodec, i, r.Offset, r.Key)
					break
				}
			}
		}
	})

	t.Run("auto-create", func(t *testing.T) {
		topic := topicName(t)
		cl := b.Client(t, kgo.AllowAutoTopicCreation())
		produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte("auto")})
		md, err := adm.Metadata(ctxT(t, 10*time.Second), topic)
		if err != nil || md.Topics[topic].Err != nil {
			t.Fatalf("metadata: %v %v", err, md.Topics[topic].Err)
		}
		if n := len(md.Topics[topic].Partitions); n != 3 {
			t.Errorf("auto-created topic has %d partitions, want num.partitions=3", n)
		}
	})
}

// TestBrokerConfigSources: a server.properties file, overridden on the
// command line; auto.create.topics.enable=false; broker and topic configs
// reported with their sources.
func TestBrokerConfigSources(t *testing.T) {
	t.Parallel()
	props := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(props, []byte("# a Kafka-style file\nnum.partitions = 5\nlog.retention.hours=1\nauto.create.topics.enable=false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := testutil.StartBroker(t, testutil.WithConfigFile(props), testutil.WithOverride("num.partitions", "4"))
	adm := b.Admin(t)
	ctx := ctxT(t, 30*time.Second)

	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker configs: %v %+v", err, rcs)
	}
	bc := map[string]string{}
	bsrc := map[string]kmsg.ConfigSource{}
	for _, c := range rcs[0].Configs {
		bc[c.Key], bsrc[c.Key] = c.MaybeValue(), c.Source
	}
	if bc["num.partitions"] != "4" || bsrc["num.partitions"] != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("num.partitions = %q (%v), want 4 (the override beats the file), STATIC_BROKER_CONFIG", bc["num.partitions"], bsrc["num.partitions"])
	}
	if bc["log.retention.hours"] != "1" || bsrc["log.retention.hours"] != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("log.retention.hours = %q (%v), want 1, STATIC_BROKER_CONFIG", bc["log.retention.hours"], bsrc["log.retention.hours"])
	}

	topic := topicName(t)
	createTopic(t, adm, topic, -1, nil) // -1: the broker's num.partitions
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(md.Topics[topic].Partitions); n != 4 {
		t.Errorf("CreateTopics with -1 partitions made %d, want num.partitions=4", n)
	}
	cfgs := describeTopic(t, adm, topic)
	wantConfig(t, cfgs, "retention.ms", "3600000", kmsg.ConfigSourceStaticBrokerConfig)

	// Auto-creation is off: Metadata asking to create answers
	// UNKNOWN_TOPIC_OR_PARTITION and creates nothing.
	rc := testutil.DialRaw(t, b.Addr())
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 12
	mreq.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	missing := topicName(t) + "-missing"
	mt.Topic = kmsg.StringPtr(missing)
	mreq.Topics = append(mreq.Topics, mt)
	mresp := rc.Request(mreq).(*kmsg.MetadataResponse)
	if len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("metadata for a missing topic with auto.create.topics.enable=false: %+v, want UNKNOWN_TOPIC_OR_PARTITION", mresp.Topics)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if td.Has(missing) {
		t.Errorf("topic %s was auto-created although auto.create.topics.enable=false", missing)
	}
}

// TestMessageSizeLimits: message.max.bytes (broker) bounds batches for
// topics without max.message.bytes; a topic's max.message.bytes raises it;
// a 1 MB record round-trips through such a topic.
func TestMessageSizeLimits(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t, testutil.WithOverride("message.max.bytes", "200000"))
	adm := b.Admin(t)
	small, big := topicName(t)+"-small", topicName(t)+"-big"
	createTopic(t, adm, small, 1, nil)
	createTopic(t, adm, big, 1, map[string]*string{"max.message.bytes": sp("2000000")})
	value := make([]byte, 1_000_000)
	for i := range value {
		value[i] = byte(rand.Uint32()) // incompressible
	}
	cl := b.Client(t, kgo.ProducerBatchMaxBytes(4<<20), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(2))

	err := cl.ProduceSync(ctxT(t, 30*time.Second), &kgo.Record{Topic: small, Value: value}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("1 MB record to a topic bounded by message.max.bytes=200000: %v, want MESSAGE_TOO_LARGE", err)
	}
	produceSync(t, cl, &kgo.Record{Topic: big, Value: value})
	got := consumeAll(t, b, big, kgo.FetchMaxBytes(1<<20), kgo.FetchMaxPartitionBytes(1<<20))[0]
	if len(got) != 1 || !bytes.Equal(got[0].Value, value) {
		t.Errorf("1 MB record did not round-trip: %d records", len(got))
	}
	wantConfig(t, describeTopic(t, adm, small), "max.message.bytes", "200000", kmsg.ConfigSourceStaticBrokerConfig)
}

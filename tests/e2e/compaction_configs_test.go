package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicConfigsLive: topic configs changed with IncrementalAlterConfigs
// on existing topics take effect at once, without a restart, and still
// hold after one: max.message.bytes, message.timestamp.type,
// compression.type (recompression), min.insync.replicas, cleanup.policy,
// segment.bytes, retention.bytes and retention.ms.
func TestTopicConfigsLive(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t,
		testutil.WithOverride("log.retention.check.interval.ms", "200"),
		testutil.WithOverride("log.cleaner.backoff.ms", "100"))
	adm := b.Admin(t)
	alter := func(topic string, kv ...string) {
		t.Helper()
		var acs []kadm.AlterConfig
		for i := 0; i < len(kv); i += 2 {
			acs = append(acs, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[i], Value: sp(kv[i+1])})
		}
		resps, err := adm.AlterTopicConfigs(ctxT(t, 10*time.Second), acs, topic)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			t.Fatalf("alter %s %v: %v", topic, kv, err)
		}
	}
	now := func() int64 { return time.Now().UnixMilli() }
	plain := func(ts int64, n, size int, keyed bool) []byte {
		var recs []rawRecord
		for i := range n {
			r := rawRecord{value: []byte(strings.Repeat(string(rune('a'+i%26)), size))}
			if keyed {
				r.key = []byte{byte('k'), byte(i)}
			}
			recs = append(recs, r)
		}
		return buildBatch(batchOpts{baseTimestamp: ts, producerID: -1, producerEpoch: -1, baseSequence: -1}, recs...)
	}
	type check struct {
		topic  string
		key    string
		value  string
		verify func(t *testing.T, rc *testutil.RawConn)
	}
	var checks []check
	add := func(key, value string, create map[string]*string, verify func(t *testing.T, topic string, rc *testutil.RawConn)) {
		topic := topicName(t) + "-" + strings.ReplaceAll(key, ".", "-")
		createTopic(t, adm, topic, 1, create)
		checks = append(checks, check{topic: topic, key: key, value: value, verify: func(t *testing.T, rc *testutil.RawConn) { verify(t, topic, rc) }})
	}

	add("max.message.bytes", "2000", nil, func(t *testing.T, topic string, rc *testutil.RawConn) {
		wantCode(t, "3000-byte batch with max.message.bytes=2000", produceRaw(t, rc, 1, topic, plain(now(), 1, 3000, false)).ErrorCode, kerr.MessageTooLarge.Code)
		wantCode(t, "small batch", produceRaw(t, rc, 1, topic, plain(now(), 1, 100, false)).ErrorCode, 0)
	})
	add("message.timestamp.type", "LogAppendTime", nil, func(t *testing.T, topic string, rc *testutil.RawConn) {
		before := now() - 1000
		p := produceRaw(t, rc, 1, topic, plain(now()-3600_000, 1, 10, false))
		if p.ErrorCode != 0 || p.LogAppendTime < before {
			t.Errorf("LogAppendTime topic: %s LogAppendTimeMs %d, want the broker's clock (>= %d)", codeName(p.ErrorCode), p.LogAppendTime, before)
		}
	})
	add("compression.type", "gzip", nil, func(t *testing.T, topic string, rc *testutil.RawConn) {
		wantCode(t, "uncompressed batch", produceRaw(t, rc, 1, topic, plain(now(), 5, 200, false)).ErrorCode, 0)
		codecs := fetchCodecs(t, b, topic, 0)
		if len(codecs) == 0 || codecs[len(codecs)-1] != 1 {
			t.Errorf("compression.type=gzip: stored codecs %v, want the last batch recompressed to gzip (1)", codecs)
		}
	})
	add("min.insync.replicas", "2", nil, func(t *testing.T, topic string, rc *testutil.RawConn) {
		wantCode(t, "acks=all with 1 replica and min.insync.replicas=2", produceRaw(t, rc, -1, topic, plain(now(), 1, 10, false)).ErrorCode, kerr.NotEnoughReplicas.Code)
		wantCode(t, "acks=1", produceRaw(t, rc, 1, topic, plain(now(), 1, 10, false)).ErrorCode, 0)
	})
	add("cleanup.policy", "compact", map[string]*string{"min.cleanable.dirty.ratio": sp("0.01"), "segment.bytes": sp("1024")},
		func(t *testing.T, topic string, rc *testutil.RawConn) {
			wantCode(t, "keyless record to a topic altered to compact", produceRaw(t, rc, 1, topic, plain(now(), 1, 10, false)).ErrorCode, kerr.InvalidRecord.Code)
			for range 6 {
				wantCode(t, "keyed records", produceRaw(t, rc, 1, topic, plain(now(), 3, 300, true)).ErrorCode, 0)
			}
			// Three keys rewritten six times: the cleaner brings the
			// segments below the active one down to one record per key.
			testutil.WaitFor(t, 30*time.Second, "the altered topic is compacted", func() (bool, string) {
				recs, err := fetchAll(t, b, topic)
				if err != nil {
					t.Fatal(err)
				}
				n := map[string]int{}
				for _, r := range recs {
					n[r.key]++
				}
				for k, c := range n {
					if c > 2 { // one cleaned + at most one in the active segment
						return false, "key " + k + " has several records"
					}
				}
				return true, ""
			})
		})
	add("segment.bytes", "1024", nil, func(t *testing.T, topic string, rc *testutil.RawConn) {
		before := len(segmentFiles(t, b.Dir(), topic, 0))
		for range 4 {
			wantCode(t, "600-byte batch", produceRaw(t, rc, 1, topic, plain(now(), 1, 600, false)).ErrorCode, 0)
		}
		if after := len(segmentFiles(t, b.Dir(), topic, 0)); after < before+3 {
			t.Errorf("segment.bytes=1024: %d segments after four 600-byte batches (from %d)", after, before)
		}
	})
	add("retention.bytes", "1500", map[string]*string{"segment.bytes": sp("1024")}, func(t *testing.T, topic string, rc *testutil.RawConn) {
		for range 5 {
			wantCode(t, "600-byte batch", produceRaw(t, rc, 1, topic, plain(now(), 1, 600, false)).ErrorCode, 0)
		}
		testutil.WaitFor(t, 20*time.Second, "retention.bytes deletes old segments", func() (bool, string) {
			files := segmentFiles(t, b.Dir(), topic, 0)
			start, err := startOffset(t, adm, topic, 0)
			return err == nil && len(files) <= 3 && start > 0, strings.Join(files, ",")
		})
	})
	add("retention.ms", "60000", nil, func(t *testing.T, topic string, rc *testutil.RawConn) {
		ends, _ := adm.ListEndOffsets(ctxT(t, 10*time.Second), topic)
		end, _ := ends.Lookup(topic, 0)
		wantCode(t, "an hour-old batch", produceRaw(t, rc, 1, topic, plain(now()-3600_000, 1, 10, false)).ErrorCode, 0)
		testutil.WaitFor(t, 20*time.Second, "retention.ms deletes the expired records", func() (bool, string) {
			start, err := startOffset(t, adm, topic, 0)
			return err == nil && start > end.Offset, ""
		})
	})

	rc := testutil.DialRaw(t, b.Addr())
	for _, c := range checks {
		alter(c.topic, c.key, c.value)
	}
	for _, c := range checks {
		t.Run(c.key+"/live", func(t *testing.T) { c.verify(t, rc) })
	}
	rc.Close()
	b.Restart()
	adm = b.Admin(t)
	rc = testutil.DialRaw(t, b.Addr())
	for _, c := range checks {
		t.Run(c.key+"/after-restart", func(t *testing.T) {
			wantConfig(t, describeTopic(t, adm, c.topic), c.key, c.value, kmsg.ConfigSourceDynamicTopicConfig)
			c.verify(t, rc)
		})
	}
}

package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConfluentPython runs py/confluent_roundtrip.py (every codec, and an
// idempotent producer) and py/confluent_admin.py against one broker, then
// checks on the wire that librdkafka really compressed with each codec.
func TestConfluentPython(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "confluent_kafka")
	b := testutil.StartBroker(t)

	t.Run("roundtrip", func(t *testing.T) {
		prefix := topicName(t)
		r := testutil.Python(t, 120*time.Second, "confluent_roundtrip.py", b.Addr(), prefix)
		if r.Err != nil {
			t.Fatalf("confluent_roundtrip.py: %v", r)
		}
		t.Logf("%s", r.Stdout)
		for name, id := range map[string]int{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4} {
			checkStoredCodec(t, prefix+"-"+name, fetchCodecs(t, b, prefix+"-"+name, 0), id)
		}
	})

	t.Run("admin", func(t *testing.T) {
		r := testutil.Python(t, 120*time.Second, "confluent_admin.py", b.Addr(), topicName(t))
		if r.Err != nil {
			t.Fatalf("confluent_admin.py: %v", r)
		}
		t.Logf("%s", r.Stdout)
	})
}

// TestKafkaPython: kafka-python 2.0.2 infers the broker release from
// ApiVersions; a plain and a gzip round trip must work.
func TestKafkaPython(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "kafka")
	b := testutil.StartBroker(t)
	for _, codec := range []string{"", "gzip"} {
		name := "plain"
		if codec != "" {
			name = codec
		}
		t.Run(name, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, b.Admin(t), topic, 1, nil)
			args := []string{b.Addr(), topic}
			if codec != "" {
				args = append(args, codec)
			}
			r := testutil.Python(t, 90*time.Second, "kafka_python_roundtrip.py", args...)
			t.Logf("%s", strings.TrimSpace(r.Stdout))
			if r.Err != nil {
				t.Fatalf("kafka_python_roundtrip.py: %v", r)
			}
		})
	}
}

// TestConfluentConsumerGroup: librdkafka's group consumer (subscribe,
// commit, resume in a second member) via py/confluent_group.py.
func TestConfluentConsumerGroup(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "confluent_kafka")
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 3, nil)
	const n = 600
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, b.Client(t), recs...)
	r := testutil.Python(t, 120*time.Second, "confluent_group.py", b.Addr(), topic, strconv.Itoa(n))
	if r.Err != nil {
		t.Fatalf("confluent_group.py: %v", r)
	}
}

// TestKafkaPythonGroup: kafka-python 2.0.2's group consumer (subscribe,
// commit, resume) via py/kafka_python_group.py.
func TestKafkaPythonGroup(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "kafka")
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 2, nil)
	const n = 300
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	// kafka-python has no snappy (franz-go's default) on Debian: gzip.
	produceSync(t, b.Client(t, kgo.ProducerBatchCompression(kgo.GzipCompression())), recs...)
	r := testutil.Python(t, 120*time.Second, "kafka_python_group.py", b.Addr(), topic, strconv.Itoa(n))
	if r.Err != nil {
		t.Fatalf("kafka_python_group.py: %v", r)
	}
}

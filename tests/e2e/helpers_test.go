// Package e2e runs real quill processes against real clients: franz-go,
// kcat (librdkafka), confluent-kafka-python, kafka-python, and hand-written
// frames. See README.md.
package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var nonTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// topicName is unique per call and readable in broker logs.
func topicName(t testing.TB) string {
	n := nonTopicChars.ReplaceAllString(t.Name(), "-")
	if len(n) > 80 {
		n = n[len(n)-80:]
	}
	return fmt.Sprintf("%s-%04x", strings.Trim(n, "-."), rand.IntN(1<<16))
}

// ctxT is a context bounded by d for one step of a test.
func ctxT(t testing.TB, d time.Duration) context.Context { return testutil.Context(t, d) }

// createTopic creates a topic (replication factor 1) and fails on error.
func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	resp, err := adm.CreateTopic(ctxT(t, 20*time.Second), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s (%d partitions, configs %v): %v", topic, partitions, strMap(configs), err)
	}
	return resp
}

func strMap(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v == nil {
			out[k] = "<nil>"
		} else {
			out[k] = *v
		}
	}
	return out
}

func sp(s string) *string { return &s }

// produceSync produces and fails the test on the first error.
func produceSync(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records: %v", len(recs), err)
	}
}

// consumeAll reads every partition of topic from the start until it has
// seen the end offsets listed now (or n records if n >= 0), bounded by 30 s.
// It returns records grouped per partition in offset order.
func consumeAll(t testing.TB, b *testutil.Broker, topic string, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	adm := b.Admin(t)
	ends, err := adm.ListEndOffsets(ctxT(t, 15*time.Second), topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctxT(t, 15*time.Second), topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("list start offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	need := 0
	ends.Each(func(o kadm.ListedOffset) {
		want[o.Partition] = o.Offset
		if s, ok := starts.Lookup(topic, o.Partition); ok && o.Offset > s.Offset {
			need++
		}
	})
	out := map[int32][]*kgo.Record{}
	if need == 0 {
		return out
	}
	cl := b.Client(t, append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)...)
	ctx := ctxT(t, 30*time.Second)
	done := map[int32]bool{}
	for len(done) < need {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: timed out; have %s, want ends %v", topic, countsOf(out), want)
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Errorf("consume %s[%d]: fetch error: %v", tp, p, err)
		})
		if t.Failed() {
			t.FailNow()
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], r)
			if r.Offset+1 >= want[r.Partition] {
				done[r.Partition] = true
			}
		})
	}
	return out
}

func countsOf(m map[int32][]*kgo.Record) string {
	var ps []int
	for p := range m {
		ps = append(ps, int(p))
	}
	sort.Ints(ps)
	var sb strings.Builder
	for _, p := range ps {
		recs := m[int32(p)]
		fmt.Fprintf(&sb, "p%d:%d(last %d) ", p, len(recs), recs[len(recs)-1].Offset)
	}
	return sb.String()
}

func flatten(m map[int32][]*kgo.Record) []*kgo.Record {
	var out []*kgo.Record
	for _, recs := range m {
		out = append(out, recs...)
	}
	return out
}

// checkOffsetsContiguous fails unless each partition's records have strictly
// increasing offsets (compressed or not, Fetch returns each once).
func checkOffsetsIncreasing(t testing.TB, m map[int32][]*kgo.Record) {
	t.Helper()
	for p, recs := range m {
		for i := 1; i < len(recs); i++ {
			if recs[i].Offset <= recs[i-1].Offset {
				t.Fatalf("partition %d: offset %d follows %d", p, recs[i].Offset, recs[i-1].Offset)
			}
		}
	}
}

// segmentFiles lists the .log files of one partition directory.
func segmentFiles(t testing.TB, dir, topic string, partition int32) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%s-%d", topic, partition), "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(m))
	}
	sort.Strings(names)
	return names
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Code
	}
	return -1
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE(0)"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		if ke, ok := e.(*kerr.Error); ok {
			return fmt.Sprintf("%s(%d)", ke.Message, code)
		}
	}
	return fmt.Sprintf("code(%d)", code)
}

// ---- hand-built record batches (magic 2), for wire tests ----

type rawRecord struct {
	key, value []byte // nil = null
	headers    [][2][]byte
	tsDelta    int64
}

type batchOpts struct {
	baseTimestamp int64
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	attributes    int16
}

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return appendVarint(b, -1)
	}
	b = appendVarint(b, int64(len(v)))
	return append(b, v...)
}

// buildBatch encodes an uncompressed record batch with a correct CRC-32C.
func buildBatch(o batchOpts, recs ...rawRecord) []byte {
	var body []byte
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0) // attributes
		rec = appendVarint(rec, r.tsDelta)
		rec = appendVarint(rec, int64(i))
		rec = appendVarBytes(rec, r.key)
		rec = appendVarBytes(rec, r.value)
		rec = appendVarint(rec, int64(len(r.headers)))
		for _, h := range r.headers {
			rec = appendVarBytes(rec, h[0])
			rec = appendVarBytes(rec, h[1])
		}
		body = appendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	be := binary.BigEndian
	var b []byte
	b = be.AppendUint64(b, 0)          // baseOffset
	b = be.AppendUint32(b, 0)          // length, set below
	b = be.AppendUint32(b, ^uint32(0)) // partitionLeaderEpoch -1
	b = append(b, 2)                   // magic
	b = be.AppendUint32(b, 0)          // crc, set below
	b = be.AppendUint16(b, uint16(o.attributes))
	b = be.AppendUint32(b, uint32(len(recs)-1))
	b = be.AppendUint64(b, uint64(o.baseTimestamp))
	maxTS := o.baseTimestamp
	for _, r := range recs {
		maxTS = max(maxTS, o.baseTimestamp+r.tsDelta)
	}
	b = be.AppendUint64(b, uint64(maxTS))
	b = be.AppendUint64(b, uint64(o.producerID))
	b = be.AppendUint16(b, uint16(o.producerEpoch))
	b = be.AppendUint32(b, uint32(o.baseSequence))
	b = be.AppendUint32(b, uint32(len(recs)))
	b = append(b, body...)
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// plainBatch is a non-idempotent batch of values with no keys.
func plainBatch(values ...string) []byte {
	recs := make([]rawRecord, len(values))
	for i, v := range values {
		recs[i] = rawRecord{value: []byte(v)}
	}
	return buildBatch(batchOpts{baseTimestamp: time.Now().UnixMilli(), producerID: -1, producerEpoch: -1, baseSequence: -1}, recs...)
}

// produceRequest builds a one-partition Produce request.
func produceRequest(version int16, acks int16, topic string, partition int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// batchCodecs returns the compression codec (attributes & 7) of every
// batch in a Fetch response's record bytes.
func batchCodecs(records []byte) ([]int, error) {
	var out []int
	for len(records) > 0 {
		if len(records) < 61 {
			return out, nil // a partial trailing batch is allowed
		}
		n := int(int32(binary.BigEndian.Uint32(records[8:])))
		if n < 49 || 12+n > len(records) {
			if 12+n > len(records) {
				return out, nil
			}
			return nil, fmt.Errorf("bad batch length %d", n)
		}
		if records[16] != 2 {
			return nil, fmt.Errorf("magic %d", records[16])
		}
		out = append(out, int(binary.BigEndian.Uint16(records[21:])&7))
		records = records[12+n:]
	}
	return out, nil
}

// fetchCodecs fetches a partition from offset 0 and returns the codec of
// each batch stored, proving what is on disk (and so on the wire).
func fetchCodecs(t testing.TB, b *testutil.Broker, topic string, partition int32) []int {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 100
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	req.ReplicaID = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = 0
	rp.LogStartOffset = -1
	rp.CurrentLeaderEpoch = -1
	rp.PartitionMaxBytes = 50 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := testutil.DialRaw(t, b.Addr()).Request(req).(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch: unexpected response shape %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch %s[%d]: %s", topic, partition, codeName(p.ErrorCode))
	}
	codecs, err := batchCodecs(p.RecordBatches)
	if err != nil {
		t.Fatalf("fetch %s[%d]: %v", topic, partition, err)
	}
	return codecs
}

var codecNames = map[int]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

func equalBytes(a, b []byte) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return bytes.Equal(a, b)
}

// buildBatchCRC is the CRC-32C of a batch from its attributes on.
func buildBatchCRC(fromAttributes []byte) uint32 {
	return crc32.Checksum(fromAttributes, crc32.MakeTable(crc32.Castagnoli))
}

// checkStoredCodec fails unless the batches were compressed with want.
// librdkafka sends a batch uncompressed when compression would not make it
// smaller, so "none" batches are allowed beside at least one of want.
func checkStoredCodec(t testing.TB, what string, stored []int, want int) {
	t.Helper()
	n := 0
	for _, c := range stored {
		switch c {
		case want:
			n++
		case 0:
		default:
			t.Errorf("%s: stored batch codecs %v, want %s (or none)", what, stored, codecNames[want])
			return
		}
	}
	if n == 0 && want != 0 {
		t.Errorf("%s: stored batch codecs %v: no batch uses %s; the client did not compress (librdkafka before 2.11.1 silently sends uncompressed data when it dislikes the advertised ApiVersions ranges)", what, stored, codecNames[want])
	}
}

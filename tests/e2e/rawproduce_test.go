package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const rawProduceVersion = 9

func produceRaw(t *testing.T, rc *testutil.RawConn, acks int16, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := rc.Request(produceRequest(rawProduceVersion, acks, topic, 0, records)).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func wantCode(t *testing.T, what string, got int16, want ...int16) {
	t.Helper()
	for _, w := range want {
		if got == w {
			return
		}
	}
	var names []string
	for _, w := range want {
		names = append(names, codeName(w))
	}
	t.Errorf("%s: got %s, want %s", what, codeName(got), strings.Join(names, " or "))
}

// TestRawProduceErrors: hand-built Produce requests with bad batches get
// Kafka's error codes, idempotent duplicates are answered with the original
// offset and not appended, and the log holds exactly the good batches.
func TestRawProduceErrors(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 1, map[string]*string{"max.message.bytes": sp("2048")})
	rc := testutil.DialRaw(t, b.Addr())
	var want []string // values expected in the log, in order

	good := func(name string, batch []byte, wantBase int64, values ...string) {
		t.Helper()
		p := produceRaw(t, rc, -1, topic, batch)
		if p.ErrorCode != 0 || p.BaseOffset != wantBase {
			t.Fatalf("%s: %s base offset %d, want NONE at %d", name, codeName(p.ErrorCode), p.BaseOffset, wantBase)
		}
		want = append(want, values...)
	}
	good("first batch", plainBatch("a0", "a1", "a2"), 0, "a0", "a1", "a2")

	// CRC-32C mismatch: a flipped value byte, and a flipped CRC field.
	bad := plainBatch("x0", "x1")
	bad[len(bad)-1] ^= 0xff
	wantCode(t, "flipped record byte", produceRaw(t, rc, -1, topic, bad).ErrorCode, kerr.CorruptMessage.Code)
	bad = plainBatch("x0", "x1")
	bad[17] ^= 0x01
	wantCode(t, "flipped crc", produceRaw(t, rc, -1, topic, bad).ErrorCode, kerr.CorruptMessage.Code)

	// Truncated batch and a record count that disagrees with
	// lastOffsetDelta (Kafka: CORRUPT_MESSAGE or INVALID_RECORD).
	bad = plainBatch("x0", "x1", "x2")
	wantCode(t, "truncated batch", produceRaw(t, rc, -1, topic, bad[:len(bad)-5]).ErrorCode, kerr.CorruptMessage.Code, kerr.InvalidRecord.Code)
	bad = plainBatch("x0", "x1", "x2")
	bad[26] = 7 // lastOffsetDelta = 7 with 3 records; re-CRC so only that is wrong
	fixCRC(bad)
	wantCode(t, "lastOffsetDelta mismatch", produceRaw(t, rc, -1, topic, bad).ErrorCode, kerr.CorruptMessage.Code, kerr.InvalidRecord.Code)
	bad = plainBatch("x0")
	bad[16] = 1 // magic 1
	wantCode(t, "magic 1 in Produce v3+", produceRaw(t, rc, -1, topic, bad).ErrorCode, kerr.InvalidRecord.Code, kerr.CorruptMessage.Code, kerr.UnsupportedForMessageFormat.Code)
	bad = plainBatch("x0")
	bad[22] |= 0x30 // transactional + control, from a client
	fixCRC(bad)
	wantCode(t, "control batch from a client", produceRaw(t, rc, -1, topic, bad).ErrorCode, kerr.InvalidRecord.Code)
	wantCode(t, "two batches in one partition", produceRaw(t, rc, -1, topic, append(plainBatch("x0"), plainBatch("x1")...)).ErrorCode, kerr.InvalidRecord.Code)

	// Over the topic's max.message.bytes (2048).
	wantCode(t, "batch over max.message.bytes", produceRaw(t, rc, -1, topic, plainBatch(strings.Repeat("z", 5000))).ErrorCode, kerr.MessageTooLarge.Code)

	// acks=2.
	wantCode(t, "acks=2", produceRaw(t, rc, 2, topic, plainBatch("x0")).ErrorCode, kerr.InvalidRequiredAcks.Code)

	// Unknown and invalid topics.
	wantCode(t, "produce to a missing topic", produceRaw(t, rc, -1, "no-such-topic-"+topic, plainBatch("x0")).ErrorCode, kerr.UnknownTopicOrPartition.Code)
	wantCode(t, "produce to an invalid topic name", produceRaw(t, rc, -1, "bad/name", plainBatch("x0")).ErrorCode, kerr.UnknownTopicOrPartition.Code, kerr.InvalidTopicException.Code)
	pr := rc.Request(produceRequest(rawProduceVersion, -1, topic, 7, plainBatch("x0"))).(*kmsg.ProduceResponse)
	wantCode(t, "produce to a missing partition", pr.Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition.Code)

	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 12
	mreq.AllowAutoTopicCreation = true
	for _, name := range []string{"bad/name", "..", strings.Repeat("n", 250)} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		mreq.Topics = []kmsg.MetadataRequestTopic{mt}
		mresp := rc.Request(mreq).(*kmsg.MetadataResponse)
		if len(mresp.Topics) != 1 {
			t.Errorf("metadata for %q: %d topics", name, len(mresp.Topics))
			continue
		}
		wantCode(t, fmt.Sprintf("metadata (auto-create) for invalid name %.20q", name), mresp.Topics[0].ErrorCode, kerr.InvalidTopicException.Code)
	}

	// Idempotent producer: duplicate and out-of-order sequences.
	ireq := kmsg.NewPtrInitProducerIDRequest()
	ireq.Version = 4
	ireq.TransactionTimeoutMillis = 60000
	ireq.ProducerID, ireq.ProducerEpoch = -1, -1
	iresp := rc.Request(ireq).(*kmsg.InitProducerIDResponse)
	if iresp.ErrorCode != 0 || iresp.ProducerID < 0 {
		t.Fatalf("InitProducerId: %s pid %d", codeName(iresp.ErrorCode), iresp.ProducerID)
	}
	pid, epoch := iresp.ProducerID, iresp.ProducerEpoch
	idem := func(seq int32, vals ...string) []byte {
		recs := make([]rawRecord, len(vals))
		for i, v := range vals {
			recs[i] = rawRecord{value: []byte(v)}
		}
		return buildBatch(batchOpts{baseTimestamp: time.Now().UnixMilli(), producerID: pid, producerEpoch: epoch, baseSequence: seq}, recs...)
	}
	b0 := idem(0, "b0", "b1", "b2")
	good("idempotent seq 0", b0, 3, "b0", "b1", "b2")
	if p := produceRaw(t, rc, -1, topic, b0); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Errorf("duplicate idempotent batch: %s at %d, want NONE with the original offset 3", codeName(p.ErrorCode), p.BaseOffset)
	}
	good("idempotent seq 3", idem(3, "c0", "c1"), 6, "c0", "c1")
	wantCode(t, "sequence gap", produceRaw(t, rc, -1, topic, idem(10, "x0")).ErrorCode, kerr.OutOfOrderSequenceNumber.Code)
	if p := produceRaw(t, rc, -1, topic, idem(0, "b0", "b1", "b2")); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Errorf("retry of an older batch still in the last five: %s at %d, want NONE at 3", codeName(p.ErrorCode), p.BaseOffset)
	}
	good("idempotent seq 5", idem(5, "d0"), 8, "d0")
	good("plain batch after errors", plainBatch("e0"), 9, "e0")

	// acks=0 with a bad batch: no response; Kafka closes the connection
	// so the client notices.
	bad = plainBatch("x0")
	bad[len(bad)-1] ^= 0xff
	rc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, produceRequest(rawProduceVersion, 0, topic, 0, bad), rc.NextCorrelation()))
	if err := rc.WaitClosed(5 * time.Second); err != nil {
		t.Errorf("acks=0 produce of a corrupt batch: %v; Kafka closes the connection", err)
	}

	// The log holds exactly the good records, in order.
	got := consumeAll(t, b, topic)[0]
	var gotVals []string
	for _, r := range got {
		gotVals = append(gotVals, string(r.Value))
	}
	if strings.Join(gotVals, ",") != strings.Join(want, ",") {
		t.Errorf("log holds %v, want %v", gotVals, want)
	}
	stillServes(t, b)
}

// fixCRC recomputes a hand-edited batch's CRC.
func fixCRC(batch []byte) {
	tmp := buildBatchCRC(batch[21:])
	batch[17], batch[18], batch[19], batch[20] = byte(tmp>>24), byte(tmp>>16), byte(tmp>>8), byte(tmp)
}

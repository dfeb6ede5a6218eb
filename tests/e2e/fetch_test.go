package e2e

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func fetchReq(version int16, sessionID, epoch int32, maxWait int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.ReplicaID = -1
	req.MaxWaitMillis = maxWait
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionID = sessionID
	req.SessionEpoch = epoch
	return req
}

func addFetchPartition(req *kmsg.FetchRequest, topic string, id [16]byte, partition int32, offset int64, maxBytes int32) {
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.LogStartOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = partition, offset, -1, -1, maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
}

func topicID(t testing.TB, adm *kadm.Client, topic string) [16]byte {
	t.Helper()
	md, err := adm.Metadata(ctxT(t, 10*time.Second), topic)
	if err != nil || md.Topics[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, md.Topics[topic].Err)
	}
	return md.Topics[topic].ID
}

// TestFetchProtocol: fetch sessions (KIP-227), topic ids (KIP-516), a long
// poll woken by a produce, and KIP-74's "first batch even if too large".
func TestFetchProtocol(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	cl := b.Client(t, kgo.ProducerBatchCompression(kgo.NoCompression()))
	produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte("one")})

	t.Run("sessions", func(t *testing.T) {
		rc := testutil.DialRaw(t, b.Addr())
		req := fetchReq(12, 0, 0, 0)
		addFetchPartition(req, topic, [16]byte{}, 0, 0, 1<<20)
		resp := rc.Request(req).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("create session: %s", codeName(resp.ErrorCode))
		}
		if resp.SessionID == 0 {
			t.Skip("broker declined the fetch session (allowed by KIP-227)")
		}
		sid := resp.SessionID
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatalf("full fetch in a new session: %+v", resp.Topics)
		}
		// Incremental, nothing changed: no partitions in the answer.
		// The offset to fetch next is the session's; 1 is what the
		// client consumed up to.
		req = fetchReq(12, sid, 1, 0)
		addFetchPartition(req, topic, [16]byte{}, 0, 1, 1<<20)
		resp = rc.Request(req).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || resp.SessionID != sid {
			t.Fatalf("incremental epoch 1: %s session %d", codeName(resp.ErrorCode), resp.SessionID)
		}
		if n := len(resp.Topics); n != 0 && len(resp.Topics[0].Partitions) != 0 {
			t.Errorf("incremental fetch with nothing new returned %+v; Kafka omits unchanged partitions", resp.Topics)
		}
		resp = rc.Request(fetchReq(12, sid, 5, 0)).(*kmsg.FetchResponse)
		if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
			t.Errorf("epoch 5 when 2 is expected: %s, want INVALID_FETCH_SESSION_EPOCH(71)", codeName(resp.ErrorCode))
		}
		resp = rc.Request(fetchReq(12, sid^0x5a5a5a, 1, 0)).(*kmsg.FetchResponse)
		if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
			t.Errorf("unknown session id: %s, want FETCH_SESSION_ID_NOT_FOUND(70)", codeName(resp.ErrorCode))
		}
		produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte("two")})
		resp = rc.Request(fetchReq(12, sid, 2, 0)).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("incremental epoch 2: %s", codeName(resp.ErrorCode))
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Errorf("incremental fetch after new data: %+v; want the partition with its new batch", resp.Topics)
		}
		// Close the session.
		resp = rc.Request(fetchReq(12, sid, -1, 0)).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Errorf("close session: %s", codeName(resp.ErrorCode))
		}
		resp = rc.Request(fetchReq(12, sid, 3, 0)).(*kmsg.FetchResponse)
		if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
			t.Errorf("fetch in a closed session: %s, want FETCH_SESSION_ID_NOT_FOUND(70)", codeName(resp.ErrorCode))
		}
	})

	t.Run("topic-ids", func(t *testing.T) {
		rc := testutil.DialRaw(t, b.Addr())
		id := topicID(t, adm, topic)
		req := fetchReq(13, 0, -1, 0)
		addFetchPartition(req, "", id, 0, 0, 1<<20)
		resp := rc.Request(req).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].TopicID != id ||
			resp.Topics[0].Partitions[0].ErrorCode != 0 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Errorf("Fetch v13 by topic id: %+v", resp)
		}
		bogus := id
		bogus[0] ^= 0xff
		req = fetchReq(13, 0, -1, 0)
		addFetchPartition(req, "", bogus, 0, 0, 1<<20)
		resp = rc.Request(req).(*kmsg.FetchResponse)
		code := resp.ErrorCode
		if code == 0 && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
			code = resp.Topics[0].Partitions[0].ErrorCode
		}
		if code != kerr.UnknownTopicID.Code {
			t.Errorf("Fetch v13 with an unknown topic id: %s, want UNKNOWN_TOPIC_ID(100)", codeName(code))
		}
	})

	t.Run("long-poll", func(t *testing.T) {
		rc := testutil.DialRaw(t, b.Addr())
		end, err := adm.ListEndOffsets(ctxT(t, 5*time.Second), topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := end.Lookup(topic, 0)
		req := fetchReq(12, 0, -1, 20000)
		addFetchPartition(req, topic, [16]byte{}, 0, o.Offset, 1<<20)
		corr := rc.Send(req)
		produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte("wake up")})
		body, err := rc.ReadResponseBody(corr, true, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 12
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Errorf("parked fetch returned without the record produced meanwhile: %+v", resp.Topics)
		}
	})

	t.Run("offsets-and-epochs", func(t *testing.T) {
		rc := testutil.DialRaw(t, b.Addr())
		md, err := adm.Metadata(ctxT(t, 10*time.Second), topic)
		if err != nil {
			t.Fatal(err)
		}
		epoch := md.Topics[topic].Partitions[0].LeaderEpoch
		end, err := adm.ListEndOffsets(ctxT(t, 5*time.Second), topic)
		if err != nil {
			t.Fatal(err)
		}
		leo, _ := end.Lookup(topic, 0)
		one := func(offset int64, leaderEpoch int32) kmsg.FetchResponseTopicPartition {
			req := fetchReq(12, 0, -1, 0)
			addFetchPartition(req, topic, [16]byte{}, 0, offset, 1<<20)
			req.Topics[0].Partitions[0].CurrentLeaderEpoch = leaderEpoch
			resp := rc.Request(req).(*kmsg.FetchResponse)
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("fetch: %+v", resp)
			}
			return resp.Topics[0].Partitions[0]
		}
		if p := one(leo.Offset, -1); p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != leo.Offset {
			t.Errorf("fetch at the log end %d: %s, %d bytes, HW %d; want NONE, nothing, HW %d", leo.Offset, codeName(p.ErrorCode), len(p.RecordBatches), p.HighWatermark, leo.Offset)
		}
		if p := one(leo.Offset+1, -1); p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch past the log end: %s, want OFFSET_OUT_OF_RANGE(1)", codeName(p.ErrorCode))
		}
		if p := one(0, epoch); p.ErrorCode != 0 {
			t.Errorf("fetch with the current leader epoch %d: %s", epoch, codeName(p.ErrorCode))
		}
		if p := one(0, epoch+1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
			t.Errorf("fetch with leader epoch %d > current %d: %s, want UNKNOWN_LEADER_EPOCH(75)", epoch+1, epoch, codeName(p.ErrorCode))
		}
		if epoch > 0 {
			if p := one(0, epoch-1); p.ErrorCode != kerr.FencedLeaderEpoch.Code {
				t.Errorf("fetch with leader epoch %d < current %d: %s, want FENCED_LEADER_EPOCH(74)", epoch-1, epoch, codeName(p.ErrorCode))
			}
		}
		// OffsetForLeaderEpoch for the current epoch: the log end.
		oreq := kmsg.NewPtrOffsetForLeaderEpochRequest()
		oreq.Version = 4
		oreq.ReplicaID = -1
		ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
		ot.Topic = topic
		op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		op.Partition, op.CurrentLeaderEpoch, op.LeaderEpoch = 0, -1, epoch
		ot.Partitions = append(ot.Partitions, op)
		oreq.Topics = append(oreq.Topics, ot)
		oresp := rc.Request(oreq).(*kmsg.OffsetForLeaderEpochResponse)
		if len(oresp.Topics) != 1 || len(oresp.Topics[0].Partitions) != 1 {
			t.Fatalf("OffsetForLeaderEpoch: %+v", oresp)
		}
		if p := oresp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LeaderEpoch != epoch || p.EndOffset != leo.Offset {
			t.Errorf("OffsetForLeaderEpoch(current epoch %d): %s epoch %d end %d, want epoch %d end %d", epoch, codeName(p.ErrorCode), p.LeaderEpoch, p.EndOffset, epoch, leo.Offset)
		}
	})

	t.Run("first-batch-over-max-bytes", func(t *testing.T) {
		big := topicName(t)
		createTopic(t, adm, big, 1, nil)
		produceSync(t, cl, &kgo.Record{Topic: big, Value: []byte(strings.Repeat("B", 200<<10))})
		rc := testutil.DialRaw(t, b.Addr())
		req := fetchReq(12, 0, -1, 0)
		req.MaxBytes = 1000
		addFetchPartition(req, big, [16]byte{}, 0, 0, 1000)
		resp := rc.Request(req).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("fetch: %+v", resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || len(p.RecordBatches) < 61 {
			t.Fatalf("fetch with max bytes 1000 below a 200 KiB batch: %s, %d bytes; KIP-74 returns the whole first batch", codeName(p.ErrorCode), len(p.RecordBatches))
		}
		if n := 12 + int(binary.BigEndian.Uint32(p.RecordBatches[8:])); len(p.RecordBatches) < n {
			t.Errorf("fetch returned %d of the first batch's %d bytes; KIP-74 returns it whole so the consumer can progress", len(p.RecordBatches), n)
		}
	})
}

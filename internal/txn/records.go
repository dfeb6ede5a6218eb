package txn

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/group"
)

// Record is one __transaction_state record, in Kafka's formats (all
// integers big-endian, strings int16-length-prefixed):
//
//	key   v0: i16 version=0 | string transactionalId
//	value v1: i16 version=1 | i64 producerId | i16 producerEpoch | i32 timeoutMs |
//	          i8 state | [topic, [i32 partition]] | i64 lastUpdateTimestamp |
//	          i64 startTimestamp | tagged: previousProducerId (0), nextProducerId (1),
//	          clientTransactionVersion (2), nextProducerEpoch (3)
//
// A nil Value is a tombstone (an expired transactional id). It is the group
// coordinator's record type, so one Store implementation serves both
// coordinators; its transactional fields are unused here.
type Record = group.Record

// ErrCorruptRecord marks a __transaction_state record that cannot be decoded.
var ErrCorruptRecord = errors.New("corrupt __transaction_state record")

// TP names a partition in a transaction.
type TP struct {
	Topic     string
	Partition int32
}

func keyFor(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: id}
	return k.AppendTo(nil)
}

// snapshot is the persisted part of a transaction's metadata.
type snapshot struct {
	pid, prevPID int64
	epoch        int16
	timeout      time.Duration
	state        kmsg.TransactionState
	parts        []TP // sorted
	updated      time.Time
	start        time.Time // zero: none
}

func encodeValue(s snapshot) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 1
	v.ProducerID = s.pid
	v.PreviousProducerID = s.prevPID
	v.ProducerEpoch = s.epoch
	v.TimeoutMillis = int32(s.timeout.Milliseconds())
	v.State = s.state
	v.LastUpdateTimestamp = s.updated.UnixMilli()
	v.StartTimestamp = -1
	if !s.start.IsZero() {
		v.StartTimestamp = s.start.UnixMilli()
	}
	for _, tp := range s.parts {
		if n := len(v.Topics); n > 0 && v.Topics[n-1].Topic == tp.Topic {
			v.Topics[n-1].Partitions = append(v.Topics[n-1].Partitions, tp.Partition)
			continue
		}
		t := kmsg.NewTxnMetadataValueTopic()
		t.Topic = tp.Topic
		t.Partitions = []int32{tp.Partition}
		v.Topics = append(v.Topics, t)
	}
	return v.AppendTo(nil)
}

// decodeRecord parses a replayed record: the transactional id and, unless
// it is a tombstone, its snapshot. Malformed bytes give an error wrapping
// ErrCorruptRecord, never a panic.
func decodeRecord(r Record) (string, *snapshot, error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(r.Key); err != nil {
		return "", nil, fmt.Errorf("%w: key: %v", ErrCorruptRecord, err)
	}
	if k.Version != 0 {
		return "", nil, fmt.Errorf("%w: key version %d", ErrCorruptRecord, k.Version)
	}
	if r.Value == nil {
		return k.TransactionalID, nil, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		return "", nil, fmt.Errorf("%w: value of %q: %v", ErrCorruptRecord, k.TransactionalID, err)
	}
	if v.Version < 0 || v.Version > 1 || v.State < 0 || v.State > 7 {
		return "", nil, fmt.Errorf("%w: value of %q: version %d, state %d", ErrCorruptRecord, k.TransactionalID, v.Version, v.State)
	}
	s := &snapshot{
		pid: v.ProducerID, prevPID: -1, epoch: v.ProducerEpoch,
		timeout: time.Duration(v.TimeoutMillis) * time.Millisecond,
		state:   v.State,
		updated: time.UnixMilli(v.LastUpdateTimestamp),
	}
	if v.Version >= 1 {
		s.prevPID = v.PreviousProducerID
	}
	if v.StartTimestamp >= 0 {
		s.start = time.UnixMilli(v.StartTimestamp)
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			s.parts = append(s.parts, TP{t.Topic, p})
		}
	}
	sortTPs(s.parts)
	return k.TransactionalID, s, nil
}

func sortTPs(tps []TP) {
	slices.SortFunc(tps, func(a, b TP) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
}

// Package replica owns one partition's broker-side state on top of its log:
// the leader epoch, the high watermark, idempotent-producer state, topic
// settings that act on appends, and the waiters of long-polling fetches.
// Manager keeps the partitions this broker hosts in step with the metadata
// image.
package replica

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/record"
)

// Settings are the topic configs that act on the append path.
type Settings struct {
	MaxMessageBytes      int   // max.message.bytes
	LogAppendTime        bool  // message.timestamp.type=LogAppendTime
	TimestampBeforeMaxMs int64 // message.timestamp.before.max.ms (<=0 or MaxInt64: unbounded)
	TimestampAfterMaxMs  int64 // message.timestamp.after.max.ms
	Compact              bool  // cleanup.policy contains compact: keys required
	// Recompress is the codec to rewrite batches into, or -1 to keep the
	// producer's (compression.type=producer).
	Recompress        record.Codec
	MinInsyncReplicas int
	SegmentBytes      int // segment.bytes: a larger batch is RECORD_LIST_TOO_LARGE
	// SyncBeforeAck (flush.messages=1): appends are acknowledged, and
	// become visible, after a grouped fsync (groupsync.go).
	SyncBeforeAck bool
}

// Partition is one hosted partition. Appends are serialized by mu; reads
// run concurrently against the log and the atomics.
type Partition struct {
	Topic   string
	ID      int32
	TopicID metadata.UUID

	log *qlog.Log
	dir string // partition directory, for producer-state snapshots
	// snapshotAt is the log end offset of the last producer-state
	// snapshot written or loaded (-1: none); guarded by mu.
	snapshotAt int64

	syncer  *qlog.GroupSyncer // fsync rounds for Settings.SyncBeforeAck (groupsync.go)
	durable atomic.Int64      // with SyncBeforeAck: below it the log is fsynced

	settings atomic.Pointer[Settings]
	epoch    atomic.Int32 // leader epoch
	hw       atomic.Int64 // high watermark: below it every record is committed

	// mu serializes appends and guards producers.
	mu        sync.Mutex
	producers map[int64]*producerEntry // guarded by mu
	segments  int                      // guarded by mu: segment count at the last snapshot check

	txn txnState // open and aborted transactions, LSO (txn.go)

	repl replState // cluster replication: leader, ISR, followers (isr.go)

	waitMu  sync.Mutex
	waiters map[*Waiter]struct{} // guarded by waitMu
	nWait   atomic.Int32         // len(waiters), read on the append path without waitMu

	now func() time.Time
}

// Log exposes the partition's log (for admin and reads).
func (p *Partition) Log() *qlog.Log { return p.log }

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.epoch.Load() }

// HighWatermark is the offset below which records are committed and visible
// to consumers.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// LastStableOffset is the offset below which no transaction is open:
// min(first offset of the open transactions, high watermark) (txn.go).
func (p *Partition) LastStableOffset() int64 { return p.lastStable(p.hw.Load()) }

// Settings returns the partition's append settings.
func (p *Partition) Settings() *Settings { return p.settings.Load() }

// AppendResult is what a Produce response needs.
type AppendResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	round          *qlog.SyncRound // the fsync to wait for (AwaitDurable), or nil
}

// ErrNotLeader is returned when this replica may not take appends.
var ErrNotLeader = kerr.NotLeaderForPartition

// AppendProduce validates and appends one batch from a Produce request. b
// is modified in place (offset, epoch, maybe timestamps) and must not be
// reused by the caller. zstdOK says the request version allows zstd.
func (p *Partition) AppendProduce(b []byte, zstdOK bool) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	s := p.settings.Load()
	h, err := record.ValidateProduced(b, record.ProduceLimits{MaxMessageBytes: s.MaxMessageBytes, AllowZstd: zstdOK, SegmentBytes: s.SegmentBytes})
	if err != nil {
		return res, err
	}
	if s.Compact {
		ok, err := record.HasKeys(b)
		if err != nil {
			return res, &record.Error{Kafka: kerr.CorruptMessage, Reason: err.Error()}
		}
		if !ok {
			return res, &record.Error{Kafka: kerr.InvalidRecord, Reason: "compacted topics need a key on every record"}
		}
	}
	now := p.now().UnixMilli()
	if !s.LogAppendTime && !h.IsLogAppendTime() {
		if err := checkTimestamp(&h, now, s); err != nil {
			return res, err
		}
	}
	if s.Recompress >= 0 && s.Recompress != h.Codec() {
		nb, err := record.Rebuild(b, s.Recompress)
		if err != nil {
			return res, &record.Error{Kafka: kerr.CorruptMessage, Reason: err.Error()}
		}
		b = nb
		if h, err = record.ParseHeader(b); err != nil {
			return res, err
		}
		if s.MaxMessageBytes > 0 && len(b) > s.MaxMessageBytes {
			return res, &record.Error{Kafka: kerr.MessageTooLarge, Reason: "batch too large after recompression"}
		}
	}
	if s.LogAppendTime {
		record.SetLogAppendTime(b, now)
		h.MaxTimestamp = now
		res.LogAppendTime = now
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if h.HasProducerID() {
		e := p.producers[h.ProducerID]
		dup, err := checkSequence(e, &h)
		if err != nil {
			return res, err
		}
		if dup != nil {
			if s.SyncBeforeAck && p.syncer != nil {
				res.round = p.syncer.Join(p.log) // the original may not be durable yet
			}
			res.BaseOffset = dup.FirstOffset
			res.LogStartOffset = p.log.LogStartOffset()
			if s.LogAppendTime {
				res.LogAppendTime = dup.Timestamp
			}
			return res, nil
		}
		if e != nil && e.TxnFirstOffset >= 0 && !h.IsTransactional() {
			return res, kerr.InvalidTxnState
		}
		if err := p.checkTxnAppendLocked(&h, e); err != nil {
			return res, err
		}
	}
	info, err := p.log.AppendLeader(b, p.epoch.Load())
	if err != nil {
		return res, errors.Join(kerr.KafkaStorageError, err)
	}
	if h.HasProducerID() {
		p.trackProducerLocked(&h, info.BaseOffset)
	}
	if s.SyncBeforeAck && p.syncer != nil {
		res.round = p.syncer.Join(p.log)
	}
	p.afterAppendLocked()
	res.BaseOffset = info.BaseOffset
	res.LogStartOffset = p.log.LogStartOffset()
	return res, nil
}

func checkTimestamp(h *record.Header, now int64, s *Settings) error {
	if s.TimestampBeforeMaxMs > 0 && s.TimestampBeforeMaxMs < 1<<62 && h.MaxTimestamp < now-s.TimestampBeforeMaxMs {
		return &record.Error{Kafka: kerr.InvalidTimestamp, Reason: "timestamp older than message.timestamp.before.max.ms"}
	}
	if s.TimestampAfterMaxMs > 0 && s.TimestampAfterMaxMs < 1<<62 && h.MaxTimestamp > now+s.TimestampAfterMaxMs {
		return &record.Error{Kafka: kerr.InvalidTimestamp, Reason: "timestamp newer than message.timestamp.after.max.ms"}
	}
	return nil
}

// trackProducerLocked records an appended batch. REQUIRES: mu held.
func (p *Partition) trackProducerLocked(h *record.Header, baseOffset int64) {
	e := p.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{Epoch: h.ProducerEpoch, TxnFirstOffset: -1}
		p.producers[h.ProducerID] = e
	}
	hh := *h
	hh.BaseOffset = baseOffset
	e.record(&hh, baseOffset)
	if h.IsTransactional() && !h.IsControl() {
		p.noteTxnAppendLocked(h.ProducerID, e, baseOffset)
	}
}

// afterAppendLocked advances the high watermark (a single in-sync replica:
// the leader's log end), snapshots producer state at segment rolls and
// wakes waiting fetches. REQUIRES: mu held.
func (p *Partition) afterAppendLocked() {
	p.advanceHW() // LEO alone, or the minimum over the ISR (isr.go)
	if n := p.log.NumSegments(); n != p.segments {
		p.segments = n
		p.writeSnapshotLocked()
	}
	if p.nWait.Load() > 0 {
		p.wake()
	}
}

// Read returns record bytes from offset for a consumer: never past the high
// watermark (or the last stable offset for read_committed).
func (p *Partition) Read(offset int64, maxBytes int, minOne bool, committed bool) (qlog.Slice, error) {
	limit := p.hw.Load()
	if committed {
		limit = p.LastStableOffset()
	}
	return p.log.Read(offset, maxBytes, limit, minOne)
}

// DeleteRecords advances the log start offset (DeleteRecords API); -1
// means the high watermark.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hw := p.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, kerr.OffsetOutOfRange
	}
	if err := p.log.SetLogStartOffset(offset); err != nil {
		return -1, errors.Join(kerr.KafkaStorageError, err)
	}
	return p.log.LogStartOffset(), nil
}

// Waiter is woken when any partition it is registered with gets data.
type Waiter struct{ C chan struct{} }

// NewWaiter returns a waiter with a one-slot channel.
func NewWaiter() *Waiter { return &Waiter{C: make(chan struct{}, 1)} }

// AddWaiter registers w for appends to p.
func (p *Partition) AddWaiter(w *Waiter) {
	p.waitMu.Lock()
	p.waiters[w] = struct{}{}
	p.nWait.Store(int32(len(p.waiters)))
	p.waitMu.Unlock()
}

// RemoveWaiter unregisters w.
func (p *Partition) RemoveWaiter(w *Waiter) {
	p.waitMu.Lock()
	delete(p.waiters, w)
	p.nWait.Store(int32(len(p.waiters)))
	p.waitMu.Unlock()
}

func (p *Partition) wake() {
	p.waitMu.Lock()
	for w := range p.waiters {
		select {
		case w.C <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}

package replica

// The partition side of transactions (KIP-98, KIP-890 part 1):
//
//   - A transactional batch opens a transaction of its producer in this
//     partition (producerEntry.TxnFirstOffset); a control batch written by
//     the transaction coordinator (AppendMarker) closes it.
//   - The last stable offset is min(first offset of the open transactions,
//     high watermark); read_committed consumers read below it.
//   - Every aborted transaction is remembered as (pid, first offset, last
//     offset = marker offset, LSO) so read_committed fetches can tell
//     clients which records to drop. The list is persisted in the
//     partition's aborted-txns file (34-byte entries, the layout of Kafka's
//     .txnindex entries; see docs/decisions/0003-aborted-txn-file.md) and
//     rebuilt from control batches replayed after the last producer-state
//     snapshot, so a crash between marker append and file write loses
//     nothing.
//   - Before a producer's first transactional append to the partition the
//     server asks the transaction coordinator whether the partition is in
//     the producer's ongoing transaction (KIP-890 part 1). A guard records
//     the verification; a marker written meanwhile invalidates it, so a
//     late batch of an aborted transaction cannot open a hanging one.

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/record"
)

// AbortedTxn is one aborted transaction of a partition.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64 // the abort marker's offset
	LastStableOffset int64 // the LSO right after the marker
}

// abortedEntrySize is the size of one aborted-txns entry:
// version i16 (0) | pid i64 | first i64 | last i64 | lso i64.
const abortedEntrySize = 34

const abortedFileName = "aborted-txns"

// txnState is a partition's transaction bookkeeping. Fields other than the
// atomics and the aborted list are guarded by Partition.mu.
type txnState struct {
	// unstable is 1 + the first offset of the oldest open transaction, or
	// 0 when none is open. Readers use it without Partition.mu.
	unstable atomic.Int64
	open     map[int64]int64        // pid -> first offset of its open transaction
	verify   map[int64]*verifyGuard // KIP-890 part 1 verifications in flight
	token    uint64

	abortedMu sync.RWMutex
	aborted   []AbortedTxn // ascending LastOffset; guarded by abortedMu
}

type verifyGuard struct {
	token uint64
	epoch int16
	ok    bool // the coordinator confirmed; false again after a marker
}

// lastStable is the LSO for a given high watermark.
func (p *Partition) lastStable(hw int64) int64 {
	if u := p.txn.unstable.Load(); u > 0 && u-1 < hw {
		return u - 1
	}
	return hw
}

// FirstUnstableOffset is the first offset of the oldest open transaction,
// or -1 when none is open.
func (p *Partition) FirstUnstableOffset() int64 { return p.txn.unstable.Load() - 1 }

// recomputeUnstableLocked refreshes the cached minimum. REQUIRES: mu held.
func (p *Partition) recomputeUnstableLocked() {
	first := int64(math.MaxInt64)
	for _, off := range p.txn.open {
		first = min(first, off)
	}
	if first == math.MaxInt64 {
		p.txn.unstable.Store(0)
		return
	}
	p.txn.unstable.Store(first + 1)
}

// noteTxnAppendLocked opens the producer's transaction at off if it has
// none open. REQUIRES: mu held.
func (p *Partition) noteTxnAppendLocked(pid int64, e *producerEntry, off int64) {
	delete(p.txn.verify, pid)
	if e.TxnFirstOffset >= 0 {
		return
	}
	e.TxnFirstOffset = off
	if p.txn.open == nil {
		p.txn.open = map[int64]int64{}
	}
	p.txn.open[pid] = off
	p.recomputeUnstableLocked()
}

// checkTxnAppendLocked refuses the first transactional batch of a producer
// in this partition unless the coordinator verified it (KIP-890 part 1),
// when the server asked for a verification. REQUIRES: mu held.
func (p *Partition) checkTxnAppendLocked(h *record.Header, e *producerEntry) error {
	if !h.IsTransactional() || (e != nil && e.TxnFirstOffset >= 0) {
		return nil
	}
	g := p.txn.verify[h.ProducerID]
	if g == nil {
		return nil
	}
	if !g.ok || g.epoch != h.ProducerEpoch {
		return kerr.InvalidTxnState
	}
	return nil
}

// TxnVerificationNeeded reports whether a transactional batch of pid/epoch
// needs the coordinator's confirmation before it is appended: it does when
// the producer has no open transaction here. The returned token goes to
// TxnVerified once the coordinator agrees.
func (p *Partition) TxnVerificationNeeded(pid int64, epoch int16) (token uint64, need bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.producers[pid]; e != nil && e.TxnFirstOffset >= 0 && e.Epoch == epoch {
		return 0, false
	}
	if p.txn.verify == nil {
		p.txn.verify = map[int64]*verifyGuard{}
	}
	p.txn.token++
	p.txn.verify[pid] = &verifyGuard{token: p.txn.token, epoch: epoch}
	return p.txn.token, true
}

// TxnVerified records the coordinator's confirmation for token; it has no
// effect if a marker for the producer was written since.
func (p *Partition) TxnVerified(pid int64, token uint64) {
	p.mu.Lock()
	if g := p.txn.verify[pid]; g != nil && g.token == token {
		g.ok = true
	}
	p.mu.Unlock()
}

// AppendMarker writes a transaction marker (commit or abort) for pid at
// epoch, as the transaction coordinator of coordinatorEpoch asks, and
// closes the producer's transaction in this partition. It returns the
// marker's offset. A marker older than the producer's epoch gets
// INVALID_PRODUCER_EPOCH; one from an older coordinator
// TRANSACTION_COORDINATOR_FENCED.
func (p *Partition) AppendMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.producers[pid]
	if e != nil {
		if epoch < e.Epoch {
			return -1, kerr.InvalidProducerEpoch
		}
		if coordinatorEpoch < e.CoordinatorEpoch {
			return -1, kerr.TransactionCoordinatorFenced
		}
	}
	typ := record.ControlAbort
	if commit {
		typ = record.ControlCommit
	}
	now := p.now().UnixMilli()
	b := record.BuildControl(pid, epoch, typ, coordinatorEpoch, now)
	info, err := p.log.AppendLeader(b, p.epoch.Load())
	if err != nil {
		return -1, errors.Join(kerr.KafkaStorageError, err)
	}
	if e == nil {
		e = &producerEntry{Epoch: epoch, TxnFirstOffset: -1}
		p.producers[pid] = e
	}
	e.LastTimestamp = now
	p.applyMarkerLocked(pid, e, epoch, commit, coordinatorEpoch, info.BaseOffset, true)
	p.afterAppendLocked()
	return info.BaseOffset, nil
}

// applyMarkerLocked closes pid's transaction at a marker (appended now or
// replayed). persist says whether a new aborted entry goes to the file.
// REQUIRES: mu held.
func (p *Partition) applyMarkerLocked(pid int64, e *producerEntry, epoch int16, commit bool, coordinatorEpoch int32, off int64, persist bool) {
	if epoch > e.Epoch {
		e.Epoch = epoch
		e.Batches = e.Batches[:0]
	}
	e.CoordinatorEpoch = max(e.CoordinatorEpoch, coordinatorEpoch)
	if g := p.txn.verify[pid]; g != nil {
		g.ok, g.token = false, 0
	}
	first := e.TxnFirstOffset
	e.TxnFirstOffset = -1
	if _, ok := p.txn.open[pid]; ok {
		delete(p.txn.open, pid)
		p.recomputeUnstableLocked()
	}
	if commit || first < 0 {
		return
	}
	a := AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: off, LastStableOffset: p.lastStable(off + 1)}
	p.txn.abortedMu.Lock()
	n := len(p.txn.aborted)
	if n > 0 && p.txn.aborted[n-1].LastOffset >= off {
		p.txn.abortedMu.Unlock()
		return // already known (replay of a persisted entry)
	}
	p.txn.aborted = append(p.txn.aborted, a)
	p.txn.abortedMu.Unlock()
	if persist {
		p.appendAbortedFile(a)
	}
}

// replayMarkerLocked applies a control batch found while loading the log.
// REQUIRES: mu held.
func (p *Partition) replayMarkerLocked(h *record.Header, batch []byte) {
	recs, err := record.Records(batch)
	if err != nil || len(recs) == 0 {
		return
	}
	typ := record.ControlType(recs[0].Key)
	if typ != record.ControlAbort && typ != record.ControlCommit {
		return
	}
	var coordEpoch int32
	if v := recs[0].Value; len(v) >= 6 {
		coordEpoch = int32(binary.BigEndian.Uint32(v[2:]))
	}
	e := p.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{Epoch: h.ProducerEpoch, TxnFirstOffset: -1}
		p.producers[h.ProducerID] = e
	}
	e.LastTimestamp = h.MaxTimestamp
	p.applyMarkerLocked(h.ProducerID, e, h.ProducerEpoch, typ == record.ControlCommit, coordEpoch, h.BaseOffset, true)
}

// rebuildOpenTxnsLocked derives the open transactions from the producer
// entries (after a snapshot was read). REQUIRES: mu held.
func (p *Partition) rebuildOpenTxnsLocked() {
	p.txn.open = map[int64]int64{}
	for pid, e := range p.producers {
		if e.TxnFirstOffset >= 0 {
			p.txn.open[pid] = e.TxnFirstOffset
		}
	}
	p.recomputeUnstableLocked()
}

// AbortedTxns returns the aborted transactions overlapping [from, to):
// those whose marker is at or after from and whose first offset is below
// to, oldest first (what a read_committed Fetch returns).
func (p *Partition) AbortedTxns(from, to int64) []AbortedTxn {
	p.txn.abortedMu.RLock()
	defer p.txn.abortedMu.RUnlock()
	all := p.txn.aborted
	i := sort.Search(len(all), func(i int) bool { return all[i].LastOffset >= from })
	var out []AbortedTxn
	for _, a := range all[i:] {
		if a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

func encodeAborted(dst []byte, a AbortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(a.LastStableOffset))
}

// appendAbortedFile adds one entry to the partition's aborted-txns file.
// A failed write only costs a rebuild from the log on the next load, as
// long as a snapshot does not pass the marker first; it is logged nowhere
// on purpose: the marker itself is in the log.
func (p *Partition) appendAbortedFile(a AbortedTxn) {
	if p.dir == "" {
		return
	}
	f, err := os.OpenFile(filepath.Join(p.dir, abortedFileName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	f.Write(encodeAborted(nil, a))
	f.Close()
}

// loadAbortedLocked reads the aborted-txns file, dropping a torn tail and
// entries at or beyond the log end (a truncated log). REQUIRES: mu held.
func (p *Partition) loadAbortedLocked() {
	p.txn.abortedMu.Lock()
	defer p.txn.abortedMu.Unlock()
	p.txn.aborted = nil
	if p.dir == "" {
		return
	}
	path := filepath.Join(p.dir, abortedFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	leo, start := p.log.LogEndOffset(), p.log.LogStartOffset()
	dirty := len(b)%abortedEntrySize != 0
	for ; len(b) >= abortedEntrySize; b = b[abortedEntrySize:] {
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		if binary.BigEndian.Uint16(b) != 0 || a.LastOffset >= leo || a.LastOffset < start ||
			(len(p.txn.aborted) > 0 && a.LastOffset <= p.txn.aborted[len(p.txn.aborted)-1].LastOffset) {
			dirty = true
			continue
		}
		p.txn.aborted = append(p.txn.aborted, a)
	}
	if dirty {
		p.rewriteAbortedFileLocked()
	}
}

// pruneAbortedLocked runs before a producer-state snapshot: it forgets
// aborted transactions wholly below the log start offset (retention,
// DeleteRecords) and makes the file durable, since replay after the
// snapshot will not see the markers before it. REQUIRES: mu held.
func (p *Partition) pruneAbortedLocked() {
	start := p.log.LogStartOffset()
	p.txn.abortedMu.Lock()
	defer p.txn.abortedMu.Unlock()
	i := sort.Search(len(p.txn.aborted), func(i int) bool { return p.txn.aborted[i].LastOffset >= start })
	if i > 0 {
		p.txn.aborted = slices.Clone(p.txn.aborted[i:])
		p.rewriteAbortedFileLocked()
	}
	if p.dir == "" || len(p.txn.aborted) == 0 {
		return
	}
	if f, err := os.OpenFile(filepath.Join(p.dir, abortedFileName), os.O_WRONLY, 0); err == nil {
		f.Sync()
		f.Close()
	}
}

// rewriteAbortedFileLocked replaces the file with the list. REQUIRES:
// abortedMu held.
func (p *Partition) rewriteAbortedFileLocked() {
	if p.dir == "" {
		return
	}
	var buf []byte
	for _, a := range p.txn.aborted {
		buf = encodeAborted(buf, a)
	}
	path := filepath.Join(p.dir, abortedFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
	}
}

// AppendCoordinatorBatch appends a batch the broker built itself on behalf
// of a transactional producer (TxnOffsetCommit records in
// __consumer_offsets): producer id and epoch set, sequence -1, not
// validated as a client's batch. It opens the producer's transaction in
// this partition. An epoch older than the producer's gets
// INVALID_PRODUCER_EPOCH.
func (p *Partition) AppendCoordinatorBatch(b []byte) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	h, err := record.ParseHeader(b)
	if err != nil {
		return res, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.HasProducerID() {
		if e := p.producers[h.ProducerID]; e != nil && h.ProducerEpoch < e.Epoch {
			return res, kerr.InvalidProducerEpoch
		}
	}
	info, err := p.log.AppendLeader(b, p.epoch.Load())
	if err != nil {
		return res, errors.Join(kerr.KafkaStorageError, err)
	}
	if h.HasProducerID() {
		p.trackProducerLocked(&h, info.BaseOffset)
	}
	p.afterAppendLocked()
	res.BaseOffset = info.BaseOffset
	res.LogStartOffset = p.log.LogStartOffset()
	return res, nil
}

// ProducerState is one producer's state in a partition (DescribeProducers).
type ProducerState struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStartOffset   int64 // -1: no open transaction
}

// Producers returns the partition's producer states, by producer id.
func (p *Partition) Producers() []ProducerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProducerState, 0, len(p.producers))
	for pid, e := range p.producers {
		out = append(out, ProducerState{
			ProducerID: pid, Epoch: e.Epoch, LastSequence: e.lastSeq(), LastTimestamp: e.LastTimestamp,
			CoordinatorEpoch: e.CoordinatorEpoch, TxnStartOffset: e.TxnFirstOffset,
		})
	}
	slices.SortFunc(out, func(a, b ProducerState) int {
		switch {
		case a.ProducerID < b.ProducerID:
			return -1
		case a.ProducerID > b.ProducerID:
			return 1
		}
		return 0
	})
	return out
}

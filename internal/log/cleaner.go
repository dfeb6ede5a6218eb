package log

import (
	"bufio"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/quillstream/quill/internal/record"
)

// Log compaction (cleanup.policy=compact), after Kafka's Cleaner. See
// docs/compaction.md for the rules; in short, one pass:
//
//  1. takes the cleanable segments: inactive, wholly below the caller's
//     upper bound (the last stable offset / high watermark) and, with
//     min.compaction.lag.ms, whose newest record is at least that old;
//  2. builds a map key hash -> latest offset over the dirty part (from the
//     cleaner checkpoint on), stopping at a batch boundary if the map would
//     pass its key budget (then only that prefix counts as cleaned);
//  3. rewrites the segments from the log start through the last one the map
//     reached, in groups of up to segment.bytes, keeping for each key only
//     its latest record, tombstones and transaction markers until their
//     delete horizon (KIP-534: set when first cleaned, in attribute bit 6
//     and baseTimestamp) has passed. Offsets never change: a surviving
//     record keeps its offset delta and each batch its lastOffsetDelta;
//  4. swaps each group in crash-safely (cleanGroup, swapIn; recovery
//     finishes a committed swap, see completeSwaps).
//
// The cleaner reads inactive segments without the log's locks (they are
// immutable) and takes appendMu only to swap, after checking that the
// segments it read are still the log's (retention or truncation may have
// removed them meanwhile; the pass is then dropped).

// cleanerState is a Log's compaction state.
type cleanerState struct {
	mu sync.Mutex // one pass at a time
	// truncated is 1 + the lowest offset the log was truncated to since the
	// last pass (0: none), so the pass re-reads those offsets as dirty.
	truncated atomic.Int64
	// horizon is the earliest delete horizon (ms) among the tombstones and
	// markers the last pass kept (0: none or unknown): when it passes, the
	// log is due for a pass even without new dirty data.
	horizon atomic.Int64
}

// noteTruncation is called by truncations (TruncateTo, resetToLocked).
func (l *Log) noteTruncation(off int64) {
	for {
		cur := l.cleaner.truncated.Load()
		if cur != 0 && cur-1 <= off {
			return
		}
		if l.cleaner.truncated.CompareAndSwap(cur, off+1) {
			return
		}
	}
}

// CleanResult describes one cleaning pass.
type CleanResult struct {
	// NextDirty is the new cleaner checkpoint: everything below was cleaned
	// with a map that saw it (the caller persists it).
	NextDirty       int64
	SegmentsBefore  int
	SegmentsAfter   int
	BytesBefore     int64
	BytesAfter      int64
	RecordsRemoved  int64
	BatchesRemoved  int64
	TombstonesLeft  int64
	MapKeys         int
	MapStoppedEarly bool // the key budget cut the dirty range short
}

// AbortedTxn is an aborted transaction: producer id, the offset of its
// first record and of its abort marker. The cleaner drops the producer's
// transactional batches in [FirstOffset, LastOffset).
type AbortedTxn struct {
	ProducerID, FirstOffset, LastOffset int64
}

// CleanOptions are the inputs of one pass.
type CleanOptions struct {
	FirstDirty int64 // the cleaner checkpoint
	Upper      int64 // the last stable offset: nothing at or after it is touched
	MaxKeys    int   // key map budget (<= 0: no limit)
	// Aborted lists the aborted transactions overlapping the log (oldest
	// first); their records are removed. Only transactions whose marker
	// lies below Upper may be listed.
	Aborted []AbortedTxn
}

// errCleanAborted: the log changed under the pass (segments deleted or
// truncated away, log closed); nothing was swapped.
var errCleanAborted = errors.New("log: cleaning aborted: the log changed")

// cleanable is the part of the log a pass may touch.
type cleanable struct {
	segs           []*segment // snapshot of the segment list
	n              int        // segs[:n] are cleanable
	firstDirty     int64      // clamped checkpoint
	firstUnclean   int64      // segs[n].base
	cleanBytes     int64      // bytes of cleanable segments wholly below firstDirty
	dirtyBytes     int64      // bytes of the other cleanable segments
	firstDirtyTime int64      // first batch timestamp of the first dirty segment (ms), -1 if none
}

func (s *segment) lastTime() int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	return s.modified.UnixMilli()
}

// cleanableLocked computes what a pass from firstDirty may clean below
// upper. REQUIRES: mu held (read).
func (l *Log) cleanableLocked(firstDirty, upper, nowMs, trunc int64) cleanable {
	c := cleanable{segs: slices.Clone(l.mu.segs), firstDirtyTime: -1}
	cfg := l.mu.cfg
	firstDirty = min(max(firstDirty, l.mu.logStart), l.mu.leo)
	if trunc > 0 {
		firstDirty = min(firstDirty, max(trunc-1, l.mu.logStart))
	}
	c.firstDirty = firstDirty
	for c.n < len(c.segs)-1 {
		s, end := c.segs[c.n], c.segs[c.n+1].base
		if end > upper {
			break
		}
		if cfg.MinCompactionLagMs > 0 && nowMs-s.lastTime() < cfg.MinCompactionLagMs {
			break
		}
		if end <= firstDirty {
			c.cleanBytes += s.size
		} else {
			c.dirtyBytes += s.size
			if c.firstDirtyTime < 0 {
				c.firstDirtyTime = s.firstTs
				if c.firstDirtyTime < 0 {
					c.firstDirtyTime = s.modified.UnixMilli()
				}
			}
		}
		c.n++
	}
	c.firstUnclean = c.segs[c.n].base
	return c
}

// CleaningDue reports whether a compacted log needs a pass from firstDirty
// (the cleaner checkpoint) below upper, and its cleanable dirty ratio: due
// when the ratio reaches min.cleanable.dirty.ratio, when the oldest dirty
// segment is older than max.compaction.lag.ms, or when the delete horizon
// of tombstones kept by the last pass has passed.
func (l *Log) CleaningDue(firstDirty, upper int64) (float64, bool) {
	nowMs := l.now().UnixMilli()
	l.mu.RLock()
	defer l.mu.RUnlock()
	cfg := l.mu.cfg
	if l.mu.closed || !cfg.Compact {
		return 0, false
	}
	c := l.cleanableLocked(firstDirty, upper, nowMs, l.cleaner.truncated.Load())
	if c.n == 0 {
		return 0, false
	}
	ratio := 0.0
	if total := c.cleanBytes + c.dirtyBytes; total > 0 {
		ratio = float64(c.dirtyBytes) / float64(total)
	}
	if c.dirtyBytes > 0 && ratio >= cfg.MinCleanableDirtyRatio {
		return ratio, true
	}
	if c.dirtyBytes > 0 && cfg.MaxCompactionLagMs != math.MaxInt64 && cfg.MaxCompactionLagMs >= 0 &&
		c.firstDirtyTime >= 0 && nowMs-c.firstDirtyTime > cfg.MaxCompactionLagMs {
		return ratio, true
	}
	if h := l.cleaner.horizon.Load(); h > 0 && nowMs >= h {
		return ratio, true
	}
	return ratio, false
}

// keyHash is the map key: Kafka's OffsetMap also keeps a 16-byte hash (MD5)
// of each key, not the key.
func keyHash(k []byte) [16]byte { return md5.Sum(k) }

// Clean runs one compaction pass (see the top of this file). It does not
// check CleaningDue. ctx stops a pass between batches.
func (l *Log) Clean(ctx context.Context, o CleanOptions) (CleanResult, error) {
	l.cleaner.mu.Lock()
	defer l.cleaner.mu.Unlock()
	res, segs, err := l.clean(ctx, o.FirstDirty, o.Upper, o.MaxKeys, o.Aborted)
	if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, errCleanAborted) && ctx.Err() == nil {
		// A read error because the log was closed or the segments deleted
		// under the pass (retention, DeleteRecords, partition deletion) is
		// not a failure.
		l.mu.RLock()
		switch {
		case l.mu.closed:
			err = fmt.Errorf("%w (%v)", ErrClosed, err)
		case slices.ContainsFunc(segs, func(s *segment) bool { return s.deleted }):
			err = fmt.Errorf("%w (%v)", errCleanAborted, err)
		}
		l.mu.RUnlock()
	}
	return res, err
}

// clean is Clean; it also returns the segments it read. REQUIRES:
// l.cleaner.mu held.
func (l *Log) clean(ctx context.Context, firstDirty, upper int64, maxKeys int, aborted []AbortedTxn) (CleanResult, []*segment, error) {
	nowMs := l.now().UnixMilli()
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return CleanResult{NextDirty: firstDirty}, nil, ErrClosed
	}
	cfg := l.mu.cfg
	trunc := l.cleaner.truncated.Swap(0)
	c := l.cleanableLocked(firstDirty, upper, nowMs, trunc)
	sizes := make([]int64, c.n)
	for i, s := range c.segs[:c.n] {
		sizes[i] = s.size
	}
	l.mu.RUnlock()
	res := CleanResult{NextDirty: c.firstDirty}
	if c.n == 0 {
		return res, c.segs[:c.n], nil
	}
	restoreTrunc := func() {
		if trunc > 0 {
			l.noteTruncation(trunc - 1)
		}
	}

	// 2. The key map over [firstDirty, firstUnclean).
	keys := map[[16]byte]int64{}
	mapEnd := c.firstDirty
	stop := c.n // segments [0, stop) are rewritten
	full := false
	for i, s := range c.segs[:c.n] {
		if full || c.segs[i+1].base <= c.firstDirty {
			continue
		}
		err := eachBatch(s, sizes[i], func(h record.Header, b []byte) (bool, error) {
			if h.NextOffset() <= c.firstDirty {
				return true, nil
			}
			if !h.IsControl() && !isAborted(aborted, &h) {
				if maxKeys > 0 && len(keys) > 0 && len(keys)+int(h.NumRecords) > maxKeys {
					full = true
					return false, nil
				}
				recs, err := record.Records(b)
				if err != nil {
					return false, fmt.Errorf("%w: %s: batch at %d: %v", ErrCorrupt, s.path, h.BaseOffset, err)
				}
				for j := range recs {
					if recs[j].Key != nil {
						keys[keyHash(recs[j].Key)] = h.BaseOffset + int64(recs[j].OffsetDelta)
					}
				}
			}
			mapEnd = h.NextOffset()
			return ctx.Err() == nil, nil
		})
		if err != nil {
			restoreTrunc()
			return res, c.segs[:c.n], err
		}
		if err := ctx.Err(); err != nil {
			restoreTrunc()
			return res, c.segs[:c.n], err
		}
		if full {
			stop = i
			if mapEnd > s.base {
				stop = i + 1
			}
		}
	}
	if !full {
		mapEnd = max(mapEnd, c.firstUnclean)
	}
	res.MapKeys, res.MapStoppedEarly = len(keys), full
	if stop == 0 {
		res.NextDirty = mapEnd
		return res, c.segs[:c.n], nil
	}

	// The last batch of each producer in the rewritten range is kept even
	// if emptied, so producer state (idempotence) survives the cleaning.
	lastBatch := map[int64]int64{}
	for i, s := range c.segs[:stop] {
		err := s.scanHeaders(0, sizes[i], func(_ int64, h record.Header) bool {
			if h.HasProducerID() {
				lastBatch[h.ProducerID] = h.BaseOffset
			}
			return true
		})
		if err != nil {
			restoreTrunc()
			return res, c.segs[:c.n], err
		}
	}

	// 3. Rewrite in groups of up to segment.bytes.
	pass := &cleanPass{
		log: l, cfg: cfg, nowMs: nowMs, keys: keys, mapEnd: mapEnd,
		lastBatch: lastBatch, txnOpen: map[int64]bool{}, res: &res, aborted: aborted,
	}
	res.SegmentsBefore = stop
	if err := pass.rewrite(ctx, c.segs[:stop+1], sizes[:stop], false); err != nil {
		restoreTrunc()
		return res, c.segs[:c.n], err
	}
	// Groups are formed by the sizes before cleaning, as Kafka does, so a
	// pass over full segments leaves small ones behind: merge them now
	// rather than on the next pass, which a quiet log may never get.
	end := c.segs[stop].base
	l.mu.RLock()
	cur := slices.Clone(l.mu.segs)
	var curSizes []int64
	for k := 0; k+1 < len(cur) && cur[k+1].base <= end; k++ {
		curSizes = append(curSizes, cur[k].size)
	}
	l.mu.RUnlock()
	pass.mergeOnly = true
	if err := pass.rewrite(ctx, cur[:len(curSizes)+1], curSizes, true); err != nil {
		restoreTrunc()
		return res, c.segs[:c.n], err
	}
	if pass.minHorizon == math.MaxInt64 {
		pass.minHorizon = 0
	}
	l.cleaner.horizon.Store(pass.minHorizon)
	res.NextDirty = mapEnd
	return res, c.segs[:c.n], nil
}

// rewrite cleans segs[:len(sizes)] (segs has one more: the segment after
// them) in groups whose total size fits segment.bytes and whose offsets fit
// relative offsets, swapping in each group that changed or merged several
// segments; with mergeOnly, single-segment groups are left alone.
func (p *cleanPass) rewrite(ctx context.Context, segs []*segment, sizes []int64, mergeOnly bool) error {
	l, cfg := p.log, p.cfg
	for i := 0; i < len(sizes); {
		j := i + 1
		size := sizes[i]
		for j < len(sizes) && size+sizes[j] <= cfg.SegmentBytes && segs[j+1].base-1-segs[i].base <= math.MaxInt32 {
			size += sizes[j]
			j++
		}
		if mergeOnly && j-i == 1 {
			i = j
			continue
		}
		ns, changed, err := p.cleanGroup(ctx, segs[i:j], sizes[i:j], segs[j].base)
		if err != nil {
			return err
		}
		if changed || j-i > 1 {
			if err := l.swapIn(segs[i:j], ns); err != nil {
				ns.log.Close()
				os.Remove(ns.path + cleanedSuffix)
				return err
			}
		} else {
			ns.log.Close()
			os.Remove(ns.path + cleanedSuffix)
		}
		if mergeOnly {
			p.res.SegmentsAfter -= j - i - 1
			p.res.BytesAfter += ns.size - size
		} else {
			p.res.BytesBefore += size
			p.res.BytesAfter += ns.size
			p.res.SegmentsAfter++
		}
		i = j
	}
	return nil
}

// eachBatch calls fn with each batch in s's first size bytes (checked with
// record.Check); b is only valid during the call.
func eachBatch(s *segment, size int64, fn func(h record.Header, b []byte) (bool, error)) error {
	r := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, size), 256<<10)
	var buf []byte
	for pos := int64(0); pos < size; {
		if size-pos < record.HeaderSize {
			return fmt.Errorf("%w: %s: %d trailing bytes at %d", ErrCorrupt, s.path, size-pos, pos)
		}
		head, err := r.Peek(record.LogOverhead)
		if err != nil {
			return fmt.Errorf("log: read %s at %d: %w", s.path, pos, err)
		}
		n := int64(record.BatchSize(head))
		if n < record.HeaderSize || pos+n > size {
			return fmt.Errorf("%w: %s: bad batch length at %d", ErrCorrupt, s.path, pos)
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("log: read %s at %d: %w", s.path, pos, err)
		}
		h, err := record.Check(b)
		if err != nil {
			return fmt.Errorf("%w: %s: batch at %d: %v", ErrCorrupt, s.path, pos, err)
		}
		more, err := fn(h, b)
		if err != nil || !more {
			return err
		}
		pos += n
	}
	return nil
}

// cleanPass is the state of one pass's rewrite.
type cleanPass struct {
	log        *Log
	cfg        Config
	nowMs      int64
	keys       map[[16]byte]int64
	mapEnd     int64
	lastBatch  map[int64]int64 // producer id -> base offset of its last batch in the range
	txnOpen    map[int64]bool  // producer id -> kept transactional data since its last marker
	minHorizon int64
	res        *CleanResult
	aborted    []AbortedTxn
	mergeOnly  bool // concatenate already cleaned segments, filter nothing
}

// isAborted reports whether h is a transactional data batch of an aborted
// transaction. aborted is short (the partition's aborted transactions), so
// a scan is fine.
func isAborted(aborted []AbortedTxn, h *record.Header) bool {
	if !h.IsTransactional() || h.IsControl() {
		return false
	}
	for i := range aborted {
		a := &aborted[i]
		if a.ProducerID == h.ProducerID && h.BaseOffset >= a.FirstOffset && h.BaseOffset < a.LastOffset {
			return true
		}
	}
	return false
}

// cleanGroup writes the survivors of segs (whose offsets end at end) to a
// new segment file <base>.log.cleaned, fsynced, and returns the segment
// (its indexes in memory only) and whether anything changed.
func (p *cleanPass) cleanGroup(ctx context.Context, segs []*segment, sizes []int64, end int64) (*segment, bool, error) {
	l := p.log
	if p.minHorizon == 0 {
		p.minHorizon = math.MaxInt64
	}
	ns := newSegmentStruct(l.dir, segs[0].base, p.cfg.IndexIntervalBytes)
	f, err := os.OpenFile(ns.path+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, false, err
	}
	ns.log = f
	fail := func(err error) (*segment, bool, error) {
		f.Close()
		os.Remove(ns.path + cleanedSuffix)
		return nil, false, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	ib := indexBuilder{base: ns.base, interval: ns.interval, maxTs: -1, maxTsOff: -1}
	var pos int64
	changed := false
	emit := func(h record.Header, b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		if pos == 0 {
			ns.firstTs = h.MaxTimestamp
		}
		if ib.add(pos, len(b), h.LastOffset(), h.MaxTimestamp) {
			ib.off = appendOffsetEntry(ib.off, ns.base, h.LastOffset(), pos)
			ib.tim = appendTimeEntry(ib.tim, ns.base, ib.maxTs, ib.maxTsOff)
		}
		pos += int64(len(b))
		return nil
	}
	for i, s := range segs {
		err := eachBatch(s, sizes[i], func(h record.Header, b []byte) (bool, error) {
			out, err := p.filter(h, b)
			if err != nil {
				return false, fmt.Errorf("log: clean %s: batch at %d: %w", s.path, h.BaseOffset, err)
			}
			if out == nil {
				changed = true
				p.res.BatchesRemoved++
				return true, nil
			}
			if len(out) != len(b) || &out[0] != &b[0] {
				changed = true
				h, _ = record.ParseHeader(out)
			}
			return ctx.Err() == nil, emit(h, out)
		})
		if err != nil {
			return fail(err)
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	// The last time index entry carries the segment's largest timestamp, as
	// for a segment that stopped being active.
	if ib.maxTs >= 0 {
		ib.tim = appendTimeEntry(ib.tim, ns.base, ib.maxTs, ib.maxTsOff)
	}
	ns.size, ns.next = pos, end
	ns.maxTs, ns.maxTsOff, ns.sinceIndex = ib.maxTs, ib.maxTsOff, ib.since
	ns.created = segs[0].created
	ns.modified = segs[len(segs)-1].modified
	ns.installIndexes(ib.off, ib.tim)
	return ns, changed, nil
}

// filter returns the batch to write for b: b itself when unchanged, a
// rewritten batch, or nil to drop it.
func (p *cleanPass) filter(h record.Header, b []byte) ([]byte, error) {
	if h.BaseOffset >= p.mapEnd || p.mergeOnly {
		return b, nil // not seen by this pass's map, or only merging
	}
	horizon, hasHorizon := h.DeleteHorizon()
	expired := hasHorizon && p.nowMs >= horizon
	if h.IsControl() {
		// A transaction marker goes once its transaction's data is gone
		// from the log and delete.retention.ms has passed since it was
		// first cleaned (Kafka's rule).
		open := p.txnOpen[h.ProducerID]
		delete(p.txnOpen, h.ProducerID)
		if expired && !open {
			p.res.RecordsRemoved += int64(h.NumRecords)
			return nil, nil
		}
		if hasHorizon {
			if !expired {
				p.minHorizon = min(p.minHorizon, horizon)
			}
			// else: kept for its transaction's data; the horizon must not
			// make the log due again and again.
			return b, nil
		}
		recs, err := record.Records(b)
		if err != nil {
			return nil, err
		}
		return p.withHorizon(h, recs)
	}
	if isAborted(p.aborted, &h) {
		// Records of an aborted transaction go at once (Kafka's rule); the
		// batch stays empty if it is its producer's last.
		p.res.RecordsRemoved += int64(h.NumRecords)
		if p.lastBatch[h.ProducerID] == h.BaseOffset {
			if h.NumRecords == 0 {
				return b, nil
			}
			return record.BuildSparse(h, nil)
		}
		return nil, nil
	}
	recs, err := record.Records(b)
	if err != nil {
		return nil, err
	}
	kept := recs[:0:0]
	tombstones := 0
	for _, r := range recs {
		if r.Key == nil {
			continue // Kafka's cleaner drops keyless records too
		}
		if latest, ok := p.keys[keyHash(r.Key)]; ok && h.BaseOffset+int64(r.OffsetDelta) < latest {
			continue
		}
		if r.Value == nil {
			if expired {
				continue
			}
			tombstones++
		}
		kept = append(kept, r)
	}
	p.res.RecordsRemoved += int64(len(recs) - len(kept))
	p.res.TombstonesLeft += int64(tombstones)
	if h.IsTransactional() && len(kept) > 0 {
		p.txnOpen[h.ProducerID] = true
	}
	if len(kept) == 0 {
		if h.HasProducerID() && p.lastBatch[h.ProducerID] == h.BaseOffset {
			if h.NumRecords == 0 {
				return b, nil
			}
			return record.BuildSparse(h, nil)
		}
		return nil, nil
	}
	if tombstones > 0 && !hasHorizon {
		return p.withHorizon(h, kept)
	}
	if tombstones > 0 {
		p.minHorizon = min(p.minHorizon, horizon)
	}
	if len(kept) == len(recs) {
		return b, nil
	}
	return record.BuildSparse(h, kept)
}

// withHorizon rewrites a batch with its delete horizon set (KIP-534):
// attribute bit 6, and baseTimestamp = now + delete.retention.ms, record
// timestamp deltas adjusted so every record keeps its timestamp.
func (p *cleanPass) withHorizon(h record.Header, recs []record.Record) ([]byte, error) {
	horizon := p.nowMs + max(p.cfg.DeleteRetentionMs, 0)
	if p.cfg.DeleteRetentionMs > math.MaxInt64-p.nowMs {
		horizon = math.MaxInt64
	}
	p.minHorizon = min(p.minHorizon, horizon)
	nh := h
	nh.Attributes |= record.AttrDeleteHorizon
	nh.BaseTimestamp = horizon
	out := make([]record.Record, len(recs))
	for i, r := range recs {
		r.TimestampDelta = h.BaseTimestamp + r.TimestampDelta - horizon
		out[i] = r
	}
	return record.BuildSparse(nh, out)
}

// swapIn replaces segs (consecutive, inactive) with ns, whose data is in
// ns.path+".cleaned" (fsynced), crash-safely:
//
//  1. rename <base>.log.cleaned -> <base>.log.swap and fsync the directory:
//     from here recovery finishes the swap (completeSwaps);
//  2. rename the old segments' files to *.deleted (their fds stay open
//     for reads in flight until file.delete.delay.ms);
//  3. rename <base>.log.swap -> <base>.log, fsync the directory, publish
//     the new segment list, write its indexes.
//
// Everything happens under appendMu and flushMu, so no append, roll,
// retention, truncation or flush sees a half-swapped list.
func (l *Log) swapIn(segs []*segment, ns *segment) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.cleaner.truncated.Load() != 0 {
		return errCleanAborted // segments may hold other batches than those read
	}
	cur := l.mu.segs
	at := slices.Index(cur, segs[0])
	if at < 0 || at+len(segs) >= len(cur) {
		return errCleanAborted
	}
	for i, s := range segs {
		if cur[at+i] != s || s.deleted {
			return errCleanAborted
		}
	}
	// Readers holding a view of an old segment may still load its indexes
	// lazily: pin them in memory now, since the files are about to be
	// renamed and the new segment's take their names.
	for _, s := range segs {
		for _, x := range []*index{s.idx, s.tidx} {
			x.mu.Lock()
			err := s.ensureLoadedLocked(x, s.size)
			if err == nil {
				x.written = -1 // never released, never written again
			}
			x.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	cleaned, swap := ns.path+cleanedSuffix, ns.path+swapSuffix
	if err := os.Rename(cleaned, swap); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return l.failSwap(err)
	}
	for _, s := range segs {
		if err := s.renameDeleted(); err != nil {
			return l.failSwap(err)
		}
		s.deleted = true
	}
	if err := os.Rename(swap, ns.path); err != nil {
		return l.failSwap(err)
	}
	if err := syncDir(l.dir); err != nil {
		return l.failSwap(err)
	}
	next := cur[at+len(segs)].base
	ns.next = next
	l.mu.Lock()
	nsegs := make([]*segment, 0, len(cur)-len(segs)+1)
	nsegs = append(nsegs, cur[:at]...)
	nsegs = append(nsegs, ns)
	nsegs = append(nsegs, cur[at+len(segs):]...)
	l.mu.segs = nsegs
	l.mu.segGen++
	l.mu.Unlock()
	if err := ns.writeIndexes(true); err != nil {
		// The data is in place; a missing or partial index is rebuilt
		// when loaded.
		l.logger.Warn("write cleaned segment's indexes", "segment", ns.path, "err", err)
	}
	l.removeSegments(segs, l.mu.cfg.FileDeleteDelayMs)
	return nil
}

// failSwap: a rename or fsync failed after the swap was committed; the
// files on disk are what recovery completes, but the in-memory list no
// longer matches them: refuse further writes until a restart.
func (l *Log) failSwap(err error) error {
	err = fmt.Errorf("log: %s: swapping in a cleaned segment failed; restart to recover: %w", l.dir, err)
	l.mu.Lock()
	l.mu.failed = err
	l.mu.Unlock()
	return err
}

// completeSwaps finishes the swaps a crash interrupted, before the segments
// are listed (Kafka's LogLoader does the same): a <base>.log.swap file is a
// complete, fsynced cleaned segment whose swap was committed. Every segment
// whose base lies in [base, the swap's next offset) is replaced by it, and
// their index files are removed (rebuilt on load). A .swap that fails its
// checks (it cannot, short of disk corruption) is removed, keeping the old
// segments.
func (l *Log) completeSwaps() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var swaps, logs []int64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, logSuffix+swapSuffix) {
			if b, ok := parseBase(name, logSuffix+swapSuffix); ok {
				swaps = append(swaps, b)
			}
		} else if b, ok := parseBase(name, logSuffix); ok {
			logs = append(logs, b)
		}
	}
	for _, base := range swaps {
		name := segmentName(base)
		swap := filepath.Join(l.dir, name+logSuffix+swapSuffix)
		next, err := swapNextOffset(swap, base)
		if err != nil {
			l.logger.Warn("removing unreadable swap file", "file", swap, "err", err)
			os.Remove(swap)
			continue
		}
		for _, b := range logs {
			if b >= base && (b < next || b == base) {
				p := filepath.Join(l.dir, segmentName(b))
				os.Remove(p + logSuffix)
				os.Remove(p + indexSuffix)
				os.Remove(p + timeIndexSuffix)
			}
		}
		p := filepath.Join(l.dir, name)
		os.Remove(p + indexSuffix)
		os.Remove(p + timeIndexSuffix)
		if err := os.Rename(swap, p+logSuffix); err != nil {
			return err
		}
		l.logger.Info("completed an interrupted segment swap", "segment", p+logSuffix, "replaced_below", next)
	}
	if len(swaps) > 0 {
		return syncDir(l.dir)
	}
	return nil
}

// swapNextOffset checks every batch of a swap file and returns the offset
// after its last one (base if it is empty).
func swapNextOffset(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	s := &segment{path: path, log: f, base: base}
	next := base
	err = eachBatch(s, st.Size(), func(h record.Header, _ []byte) (bool, error) {
		if h.BaseOffset < next || h.LastOffset()-base > math.MaxInt32 {
			return false, fmt.Errorf("%w: %s: batch at %d out of order", ErrCorrupt, path, h.BaseOffset)
		}
		next = h.NextOffset()
		return true, nil
	})
	return next, err
}

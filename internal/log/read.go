package log

import (
	"fmt"
	"io"

	"github.com/quillstream/quill/internal/record"
)

// segView is a reader's snapshot of a segment: the bytes below size (and
// offsets below next) are whole, valid batches that stay put until the
// segment is truncated or deleted.
type segView struct {
	seg    *segment
	size   int64
	next   int64 // upper bound of the segment's offsets
	active bool
}

// viewLocked snapshots segs[i]. REQUIRES: mu held.
func (l *Log) viewLocked(i int) segView {
	s := l.mu.segs[i]
	v := segView{seg: s, size: s.size, next: s.next, active: i == len(l.mu.segs)-1}
	if !v.active {
		v.next = l.mu.segs[i+1].base
	}
	return v
}

// viewFor returns the snapshot of the segment holding off: the one with
// the largest base <= off, or with after set, the first one whose base is
// > after. ok is false if there is none.
func (l *Log) viewFor(off int64, after int64, useAfter bool) (segView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var i int
	if useAfter {
		i = l.segmentIndexLocked(after) + 1
	} else {
		i = max(l.segmentIndexLocked(off), 0)
	}
	if i >= len(l.mu.segs) {
		return segView{}, false
	}
	return l.viewLocked(i), true
}

// Read returns whole batches from the one containing offset, at most
// maxBytes of them, never reaching maxOffset (exclusive; a batch boundary
// such as the high watermark). With minOne the first batch is returned even
// if it is larger than maxBytes (KIP-74). offset == maxOffset or == LEO gives
// an empty Slice; offset < log start or > LEO gives ErrOffsetOutOfRange.
// Reads stay within one segment, as Kafka's do.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOne bool) (Slice, error) {
	empty := Slice{Offset: -1}
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return empty, ErrClosed
	}
	lso, leo := l.mu.logStart, l.mu.leo
	l.mu.RUnlock()
	if offset < lso || offset > leo {
		return empty, fmt.Errorf("%w: offset %d, log start %d, log end %d", ErrOffsetOutOfRange, offset, lso, leo)
	}
	if offset >= leo || offset >= maxOffset {
		return empty, nil
	}
	v, ok := l.viewFor(offset, 0, false)
	for ok {
		if offset < v.next && v.size > 0 {
			pos, h, found, err := v.seg.translate(offset, 0, v.size)
			if err != nil {
				return empty, err
			}
			if found {
				if h.BaseOffset >= maxOffset {
					return empty, nil
				}
				return l.readFrom(v, pos, h, maxBytes, maxOffset, minOne)
			}
		}
		if v.active {
			break
		}
		// Go on with the segment that now holds v.next, not with the one
		// after v's base: the cleaner may have swapped v and the segments
		// after it for one cleaned segment with v's base, and "the one
		// after v's base" would then skip what it holds past v (readers
		// missed records during compaction: TestCleanConcurrentReaders
		// failed about one run in eight).
		prev := v.next
		v, ok = l.viewFor(prev, 0, false)
		if ok && v.next <= prev && !v.active {
			v, ok = l.viewFor(0, v.seg.base, true) // never go backwards
		}
	}
	return empty, nil
}

// readFrom builds the slice starting at the batch h at pos.
func (l *Log) readFrom(v segView, pos int64, h record.Header, maxBytes int, maxOffset int64, minOne bool) (Slice, error) {
	limit, endOff := v.size, v.next
	if maxOffset < v.next {
		// Stop before the batch containing maxOffset.
		p, mh, found, err := v.seg.translate(maxOffset, pos, v.size)
		if err != nil {
			return Slice{Offset: -1}, err
		}
		if found {
			limit, endOff = p, mh.BaseOffset
		}
	}
	end := limit
	if maxBytes < 0 {
		maxBytes = 0
	}
	if limit-pos > int64(maxBytes) {
		target := pos + int64(maxBytes)
		v.seg.idx.mu.Lock()
		from := pos
		if v.seg.idx.loaded {
			from = max(v.seg.idx.floorPositionLocked(target), pos)
		}
		v.seg.idx.mu.Unlock()
		end = from
		err := v.seg.scanHeaders(from, limit, func(p int64, bh record.Header) bool {
			if p+int64(bh.Size()) > target {
				return false
			}
			end, endOff = p+int64(bh.Size()), bh.NextOffset()
			return true
		})
		if err != nil {
			return Slice{Offset: -1}, err
		}
		if end == pos && minOne {
			end, endOff = pos+int64(h.Size()), h.NextOffset()
		}
	}
	if end <= pos {
		return Slice{Offset: -1}, nil
	}
	return Slice{File: v.seg.log, Pos: pos, Size: end - pos, Offset: h.BaseOffset, End: endOff}, nil
}

// ScanBatches calls fn with every batch whose last offset is >= from, in
// order, up to the LEO at the time of the call (producer-state rebuild,
// __consumer_offsets replay). The batch slice is only valid during the call.
// An error from fn stops the scan and is returned.
func (l *Log) ScanBatches(from int64, fn func(h record.Header, batch []byte) error) error {
	l.mu.RLock()
	from = max(from, l.mu.logStart)
	l.mu.RUnlock()
	buf := make([]byte, 256<<10)
	v, ok := l.viewFor(from, 0, false)
	for ok {
		if from < v.next && v.size > 0 {
			pos, _, found, err := v.seg.translate(from, 0, v.size)
			if err != nil {
				return err
			}
			if found {
				if err := scanSegment(v, pos, &buf, fn); err != nil {
					return err
				}
			}
		}
		if v.active {
			return nil
		}
		v, ok = l.viewFor(0, v.seg.base, true)
	}
	return nil
}

// scanSegment reads whole batches from pos to the end of the view in large
// chunks and hands each to fn.
func scanSegment(v segView, pos int64, bufp *[]byte, fn func(h record.Header, batch []byte) error) error {
	for pos < v.size {
		buf := *bufp
		n := int(min(int64(len(buf)), v.size-pos))
		m, err := v.seg.log.ReadAt(buf[:n], pos)
		if m < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("log: read %s at %d: %w", v.seg.path, pos, err)
		}
		chunk := buf[:n]
		consumed := 0
		for len(chunk) >= record.HeaderSize {
			size := record.BatchSize(chunk)
			if size < record.HeaderSize {
				return fmt.Errorf("%w: %s: bad batch header at %d", ErrCorrupt, v.seg.path, pos+int64(consumed))
			}
			if size > len(chunk) {
				break
			}
			h, _ := record.ParseHeader(chunk)
			if err := fn(h, chunk[:size:size]); err != nil {
				return err
			}
			chunk = chunk[size:]
			consumed += size
		}
		if consumed == 0 {
			// One batch larger than the buffer.
			size := record.BatchSize(chunk)
			if int64(size) > v.size-pos {
				return fmt.Errorf("%w: %s: batch at %d runs past the segment end", ErrCorrupt, v.seg.path, pos)
			}
			*bufp = make([]byte, size)
			continue
		}
		pos += int64(consumed)
	}
	return nil
}

// OffsetForTimestamp finds the first record with timestamp >= ts at or
// after the log start (ListOffsets by time): the first segment whose largest
// timestamp is >= ts, the time index floor of ts in it, a scan of batch
// headers, then the records of the first batch whose max timestamp is >= ts.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, epoch int32, ok bool, err error) {
	l.mu.RLock()
	lso := l.mu.logStart
	var views []segView
	for i, s := range l.mu.segs {
		if s.maxTs >= ts {
			views = append(views, l.viewLocked(i))
		}
	}
	l.mu.RUnlock()
	for _, v := range views {
		if v.next <= lso {
			continue
		}
		start := int64(0)
		v.seg.tidx.mu.Lock()
		err := v.seg.ensureLoadedLocked(v.seg.tidx, v.size)
		var floorOff int64
		var hasFloor bool
		if err == nil {
			_, floorOff, hasFloor = v.seg.tidx.lookupTimeLocked(v.seg.base, ts)
		}
		v.seg.tidx.mu.Unlock()
		if err != nil {
			return -1, -1, -1, false, err
		}
		if hasFloor {
			if start, err = v.seg.lookup(floorOff, v.size); err != nil {
				return -1, -1, -1, false, err
			}
		}
		off, t, ep, found, err := findInSegment(v, start, lso, func(h record.Header) bool { return h.MaxTimestamp >= ts },
			func(t int64) bool { return t >= ts })
		if err != nil || found {
			return off, t, ep, found, err
		}
	}
	return -1, -1, -1, false, nil
}

// MaxTimestamp returns the record with the largest timestamp (ListOffsets
// -3, KIP-734): its offset, timestamp and batch epoch; (-1, -1, -1) if the
// log has no timestamps.
func (l *Log) MaxTimestamp() (offset, timestamp int64, epoch int32) {
	l.mu.RLock()
	lso := l.mu.logStart
	best := -1
	for i, s := range l.mu.segs {
		if s.maxTs >= 0 && s.size > 0 && (best < 0 || s.maxTs > l.mu.segs[best].maxTs) {
			best = i
		}
	}
	if best < 0 {
		l.mu.RUnlock()
		return -1, -1, -1
	}
	v := l.viewLocked(best)
	maxTs := v.seg.maxTs
	l.mu.RUnlock()
	off, t, ep, found, err := findInSegment(v, 0, lso, func(h record.Header) bool { return h.MaxTimestamp == maxTs },
		func(t int64) bool { return t == maxTs })
	if err != nil || !found {
		return -1, -1, -1
	}
	return off, t, ep
}

// findInSegment scans batches from start for the first one at or after lso
// that batchOK accepts, then returns its first record (at or after lso)
// whose timestamp recOK accepts.
func findInSegment(v segView, start, lso int64, batchOK func(record.Header) bool, recOK func(int64) bool) (int64, int64, int32, bool, error) {
	var (
		pos   int64
		h     record.Header
		found bool
	)
	err := v.seg.scanHeaders(start, v.size, func(p int64, bh record.Header) bool {
		if bh.LastOffset() >= lso && batchOK(bh) {
			pos, h, found = p, bh, true
			return false
		}
		return true
	})
	if err != nil || !found {
		return -1, -1, -1, false, err
	}
	if h.IsLogAppendTime() {
		return max(h.BaseOffset, lso), h.MaxTimestamp, h.PartitionLeaderEpoch, true, nil
	}
	b := make([]byte, h.Size())
	if _, err := v.seg.log.ReadAt(b, pos); err != nil {
		return -1, -1, -1, false, err
	}
	recs, err := record.Records(b)
	if err != nil {
		return -1, -1, -1, false, fmt.Errorf("log: decode batch at offset %d: %w", h.BaseOffset, err)
	}
	for _, r := range recs {
		off := h.BaseOffset + int64(r.OffsetDelta)
		if t := h.BaseTimestamp + r.TimestampDelta; off >= lso && recOK(t) {
			return off, t, h.PartitionLeaderEpoch, true, nil
		}
	}
	// The batch's max timestamp says a record qualifies; trust it.
	return max(h.BaseOffset, lso), h.MaxTimestamp, h.PartitionLeaderEpoch, true, nil
}

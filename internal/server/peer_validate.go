package server

// Structural checks of the inter-broker responses this package reads,
// before kmsg decodes them: kmsg's tagged-field reader loops as many times
// as the (uvarint) tag count says even past the end of the input, so a
// corrupt count costs seconds of CPU. The two responses the transaction
// code reads are walked here with every count bounded by the bytes left.

import (
	"encoding/binary"
	"errors"
)

var errBadPeerResponse = errors.New("malformed response")

// flexWalker walks a flexible-version body; any bound violation sets bad.
type flexWalker struct {
	b   []byte
	bad bool
}

func (w *flexWalker) skip(n int) {
	if w.bad || n < 0 || n > len(w.b) {
		w.bad = true
		return
	}
	w.b = w.b[n:]
}

func (w *flexWalker) uvarint() uint64 {
	if w.bad {
		return 0
	}
	v, n := binary.Uvarint(w.b)
	if n <= 0 {
		w.bad = true
		return 0
	}
	w.b = w.b[n:]
	return v
}

// count reads a compact array length or tag count: at most one element
// per byte left.
func (w *flexWalker) count(compactArray bool) int {
	v := w.uvarint()
	if compactArray {
		if v == 0 {
			return 0 // null
		}
		v--
	}
	if w.bad || v > uint64(len(w.b)) {
		w.bad = true
		return 0
	}
	return int(v)
}

func (w *flexWalker) compactString() {
	n := w.uvarint()
	if n == 0 || w.bad {
		return // null
	}
	if n-1 > uint64(len(w.b)) {
		w.bad = true
		return
	}
	w.skip(int(n - 1))
}

func (w *flexWalker) tags() {
	for range w.count(false) {
		w.uvarint()
		n := w.uvarint()
		if n > uint64(len(w.b)) {
			w.bad = true
		}
		w.skip(int(n))
		if w.bad {
			return
		}
	}
}

// array walks a compact array whose elements elem walks.
func (w *flexWalker) array(elem func()) {
	for range w.count(true) {
		elem()
		if w.bad {
			return
		}
	}
}

// ValidatePeerResponse checks the structure of the flexible responses the
// transaction code reads (WriteTxnMarkers v1+, AddPartitionsToTxn v4+);
// others are left to kmsg.
func ValidatePeerResponse(key, version int16, body []byte) error {
	w := &flexWalker{b: body}
	partitions := func() { // partition int32, error code int16, tags
		w.array(func() { w.skip(6); w.tags() })
	}
	topics := func() { // name, partitions, tags
		w.array(func() { w.compactString(); partitions(); w.tags() })
	}
	switch {
	case key == 27 && version >= 1: // WriteTxnMarkers
		w.array(func() { w.skip(8); topics(); w.tags() }) // producer id, topics
	case key == 24 && version >= 4: // AddPartitionsToTxn
		w.skip(6)                                                 // throttle, error code
		w.array(func() { w.compactString(); topics(); w.tags() }) // transactional id, topics
	default:
		return nil
	}
	w.tags()
	if w.bad {
		return errBadPeerResponse
	}
	return nil
}

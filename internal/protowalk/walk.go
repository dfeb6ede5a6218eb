// Package protowalk checks the structure of Kafka request (and some
// response) bodies before kmsg decodes them.
//
// kmsg's reader keeps going after its input is exhausted and reads a
// tagged-field section as "for n := count; n > 0; n--" with no bound, so
// a flexible-version body whose tag count is 2^32-1 costs kmsg billions of
// iterations on a handful of bytes. Walk bounds every count by the bytes
// left (a tag takes at least 2 bytes, an array element at least 1) and
// skips each field by its wire type as Kafka's message schemas define it,
// so it runs in O(len(body)): every loop iteration consumes input or is
// charged to a budget of len(body) elements. It copies and allocates
// nothing; record batches are skipped by their length.
//
// The schema tables in schema_gen.go are generated from Apache Kafka's
// JSON message schemas (not committed; see gen/main.go):
//
//	go run ./gen -in $KAFKA/clients/src/main/resources/common/message -out schema_gen.go
package protowalk

import (
	"errors"
	"fmt"
)

// ErrNoSchema is returned for an API key or version with no schema here.
var ErrNoSchema = errors.New("protowalk: no schema for this api key and version")

// errMalformed is the error for a body that does not fit its schema.
var errMalformed = errors.New("malformed body")

type kind uint8

const (
	kNone kind = iota
	kBool
	kInt8
	kInt16
	kUint16
	kInt32
	kUint32
	kInt64
	kFloat64
	kUUID
	kString
	kBytes
	kRecords
	kStruct
	kArray
)

// fixedSize is the encoded size of the fixed-width kinds, 0 for others.
var fixedSize = [...]int{kBool: 1, kInt8: 1, kInt16: 2, kUint16: 2, kInt32: 4, kUint32: 4,
	kInt64: 8, kFloat64: 8, kUUID: 16, kString: 0, kBytes: 0, kRecords: 0, kStruct: 0, kArray: 0}

const (
	vMax  = 1<<15 - 1
	noTag = -1
)

// field is one schema field: present in versions [lo, hi], and carried in
// the tagged-field section as tag in versions [tlo, thi] when tag >= 0.
type field struct {
	kind     kind
	elem     kind // element kind of a kArray
	lo, hi   int16
	tag      int32
	tlo, thi int16
	sub      []field // fields of a kStruct, or of a kArray's struct elements
}

// message is one request or response schema: valid versions [min, max],
// flexible from version flex on.
type message struct {
	name          string
	min, max, flx int16
	fields        []field
}

// Request checks that body is a well-formed version-version request of
// API key key. It returns ErrNoSchema if key or version is unknown here.
func Request(key, version int16, body []byte) error {
	return walk(requests, key, version, body)
}

// Response is Request for response bodies (without the response header).
// Only a few responses have schemas here; others get ErrNoSchema.
func Response(key, version int16, body []byte) error {
	return walk(responses, key, version, body)
}

// HasRequest reports whether Request knows version version of key.
func HasRequest(key, version int16) bool {
	m := lookup(requests, key)
	return m != nil && version >= m.min && version <= m.max
}

func lookup(table []*message, key int16) *message {
	if key < 0 || int(key) >= len(table) {
		return nil
	}
	return table[key]
}

func walk(table []*message, key, version int16, body []byte) error {
	_, err := walkRest(table, key, version, body)
	// Trailing bytes are left to kmsg, which ignores them.
	return err
}

// walkRest walks body and returns how many bytes are left after it.
func walkRest(table []*message, key, version int16, body []byte) (int, error) {
	m := lookup(table, key)
	if m == nil || version < m.min || version > m.max {
		return 0, ErrNoSchema
	}
	w := walker{b: body, v: version, flex: version >= m.flx, budget: len(body) + 1}
	w.fields(m.fields)
	if w.bad {
		return 0, fmt.Errorf("%s v%d: %w at byte %d", m.name, version, errMalformed, len(body)-len(w.b))
	}
	return len(w.b), nil
}

// walker consumes b; any violation sets bad, after which it only returns.
type walker struct {
	b      []byte
	v      int16
	flex   bool
	bad    bool
	budget int // array elements left to walk; starts at len(body)+1
}

func (w *walker) skip(n int) {
	if n < 0 || n > len(w.b) {
		w.bad = true
		return
	}
	w.b = w.b[n:]
}

// uvarint reads Kafka's unsigned varint: at most 5 bytes, 32 bits.
func (w *walker) uvarint() uint32 {
	var x uint32
	for i := 0; i < 5; i++ {
		if i >= len(w.b) {
			w.bad = true
			return 0
		}
		c := w.b[i]
		if i == 4 && c > 0x0f {
			w.bad = true
			return 0
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			w.b = w.b[i+1:]
			return x
		}
	}
	w.bad = true
	return 0
}

func (w *walker) int16() int16 {
	if len(w.b) < 2 {
		w.bad = true
		return 0
	}
	v := int16(w.b[0])<<8 | int16(w.b[1])
	w.b = w.b[2:]
	return v
}

func (w *walker) int32() int32 {
	if len(w.b) < 4 {
		w.bad = true
		return 0
	}
	v := int32(w.b[0])<<24 | int32(w.b[1])<<16 | int32(w.b[2])<<8 | int32(w.b[3])
	w.b = w.b[4:]
	return v
}

// length reads a string, bytes or array length: -1 (or any negative, as
// kmsg reads them) for null, which is returned as 0.
func (w *walker) length(short bool) int {
	if w.flex {
		n := int64(w.uvarint()) - 1
		if n < 0 {
			return 0
		}
		if n > int64(len(w.b)) {
			w.bad = true
			return 0
		}
		return int(n)
	}
	var n int32
	if short {
		n = int32(w.int16())
	} else {
		n = w.int32()
	}
	if n < 0 {
		return 0
	}
	if int64(n) > int64(len(w.b)) {
		w.bad = true
		return 0
	}
	return int(n)
}

func (w *walker) in(lo, hi int16) bool { return w.v >= lo && w.v <= hi }

// fields walks the fields of a struct present in this version, then its
// tagged-field section in flexible versions.
func (w *walker) fields(fs []field) {
	for i := range fs {
		f := &fs[i]
		if !w.in(f.lo, f.hi) || (f.tag >= 0 && w.flex && w.in(f.tlo, f.thi)) {
			continue
		}
		if size := fixedSize[f.kind]; size > 0 { // the common case, inline
			if size > len(w.b) {
				w.bad = true
				return
			}
			w.b = w.b[size:]
			continue
		}
		w.value(f.kind, f.elem, f.sub)
		if w.bad {
			return
		}
	}
	if w.flex {
		if len(w.b) > 0 && w.b[0] == 0 { // no tags, the common case
			w.b = w.b[1:]
			return
		}
		w.tags(fs)
	}
}

// value walks one value of kind k (with element kind elem and struct
// fields sub where they apply).
func (w *walker) value(k, elem kind, sub []field) {
	switch k {
	case kString:
		w.skip(w.length(true))
	case kBytes, kRecords:
		w.skip(w.length(false))
	case kStruct:
		w.fields(sub)
	case kArray:
		n := w.length(false)
		if w.bad {
			return
		}
		if size := fixedSize[elem]; size > 0 {
			w.skip(n * size) // n <= len(w.b), so no overflow
			return
		}
		for ; n > 0 && !w.bad; n-- {
			if w.budget--; w.budget < 0 {
				w.bad = true
				return
			}
			w.value(elem, kNone, sub)
		}
	default:
		w.skip(fixedSize[k])
	}
}

// tags walks a tagged-field section: a count, then per field its tag, its
// size and that many bytes. Known tags are walked by their type within
// their size; unknown ones are skipped.
func (w *walker) tags(fs []field) {
	n := w.uvarint()
	if w.bad || uint64(n) > uint64(len(w.b))/2 { // a tag takes at least 2 bytes
		w.bad = true
		return
	}
	for ; n > 0; n-- {
		tag := w.uvarint()
		size := w.uvarint()
		if w.bad || uint64(size) > uint64(len(w.b)) {
			w.bad = true
			return
		}
		val := w.b[:size]
		w.b = w.b[size:]
		for i := range fs {
			f := &fs[i]
			if f.tag < 0 || uint32(f.tag) != tag || !w.in(f.tlo, f.thi) {
				continue
			}
			rest := w.b
			w.b = val
			w.value(f.kind, f.elem, f.sub)
			w.b = rest // bytes left in the tag's value are ignored
			break
		}
		if w.bad {
			return
		}
	}
}

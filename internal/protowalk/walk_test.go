package protowalk

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// hugeTagCount is the uvarint 2^32-1: a tag count kmsg would loop on for
// billions of iterations.
var hugeTagCount = []byte{0xff, 0xff, 0xff, 0xff, 0x0f}

func TestRejectsHugeTagCount(t *testing.T) {
	// Metadata v12: topics (compact array, null), allow auto topic
	// creation, include topic authorized operations, then the tags.
	md := append([]byte{0, 1, 1}, hugeTagCount...)
	// ApiVersions v3: client software name and version, then the tags.
	av := append([]byte{2, 'q', 2, '1'}, hugeTagCount...)
	for _, c := range []struct {
		key, version int16
		body         []byte
	}{{3, 12, md}, {18, 3, av}, {18, 4, av}} {
		err := Request(c.key, c.version, c.body)
		if !errors.Is(err, errMalformed) {
			t.Errorf("key %d v%d: got %v, want a malformed-body error", c.key, c.version, err)
		}
		// The same bodies with a zero tag count are fine.
		ok := append(c.body[:len(c.body)-len(hugeTagCount):len(c.body)-len(hugeTagCount)], 0)
		if err := Request(c.key, c.version, ok); err != nil {
			t.Errorf("key %d v%d with no tags: %v", c.key, c.version, err)
		}
	}
	// A huge count nested in a struct's tags, and a huge array length.
	topic := kmsg.NewMetadataRequestTopic()
	name := "t"
	topic.Topic = &name
	md2 := kmsg.NewPtrMetadataRequest()
	md2.Topics = []kmsg.MetadataRequestTopic{topic}
	md2.SetVersion(12)
	b := md2.AppendTo(nil) // topics: count, topic id (16), name, tags(0)
	i := 1 + 16 + 2        // offset of the topic's tag count
	if b[i] != 0 {
		t.Fatalf("unexpected encoding %x", b)
	}
	nested := append(append(append([]byte{}, b[:i]...), hugeTagCount...), b[i+1:]...)
	if err := Request(3, 12, nested); err == nil {
		t.Error("huge nested tag count accepted")
	}
	if err := Request(3, 12, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0}); err == nil {
		t.Error("huge array length accepted")
	}
	if err := Request(3, 4, []byte{0x7f, 0xff, 0xff, 0xff}); err == nil {
		t.Error("huge int32 array length accepted")
	}
	if err := Request(99, 0, nil); !errors.Is(err, ErrNoSchema) {
		t.Errorf("unknown key: %v", err)
	}
}

var tagsType = reflect.TypeOf(kmsg.Tags{})

// fill populates every exported field of a kmsg message: strings, numbers,
// two elements per array, bytes, and an unknown tag on every struct.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Name == "Version" {
				continue
			}
			if f.Type == tagsType {
				tags := v.Field(i).Addr().Interface().(*kmsg.Tags)
				tags.Set(uint32(1000+depth), []byte{0xab, 0xcd, byte(depth)})
				continue
			}
			fill(v.Field(i), depth+1)
		}
	case reflect.String:
		v.SetString("quill")
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("not really a record batch"))
			return
		}
		if depth > 8 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fill(v.Index(i), depth+1)
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), depth+1)
		}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(3)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(3)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
}

type kmessage interface {
	SetVersion(int16)
	MaxVersion() int16
	AppendTo([]byte) []byte
	ReadFrom([]byte) error
}

// encodings returns kmsg encodings of version v of m: empty and filled.
func encodings(newMsg func() kmessage, v int16) [][]byte {
	empty := newMsg()
	empty.SetVersion(v)
	full := newMsg()
	fill(reflect.ValueOf(full).Elem(), 0)
	full.SetVersion(v)
	return [][]byte{empty.AppendTo(nil), full.AppendTo(nil)}
}

// checkTable checks that everything kmsg encodes for every key and version
// of table walks cleanly and exactly to its end.
func checkTable(t *testing.T, table []*message, newMsg func(int16) kmessage) {
	walked := 0
	defer func() { t.Logf("%d encodings walked", walked) }()
	for key, m := range table {
		if m == nil {
			continue
		}
		if newMsg(int16(key)) == nil {
			t.Errorf("%s: kmsg has no key %d", m.name, key)
			continue
		}
		for v := m.min; v <= m.max && v <= newMsg(int16(key)).MaxVersion(); v++ {
			for i, b := range encodings(func() kmessage { return newMsg(int16(key)) }, v) {
				rest, err := walkRest(table, int16(key), v, b)
				if err != nil || rest != 0 {
					t.Errorf("%s v%d encoding %d (%d bytes): %v, %d bytes left", m.name, v, i, len(b), err, rest)
				}
				dec := newMsg(int16(key))
				dec.SetVersion(v)
				if err := dec.ReadFrom(b); err != nil {
					t.Errorf("%s v%d encoding %d: kmsg cannot decode its own encoding: %v", m.name, v, i, err)
				}
				// Every strict prefix misses something.
				for n := 0; n < len(b); n++ {
					if _, err := walkRest(table, int16(key), v, b[:n]); err == nil {
						t.Errorf("%s v%d encoding %d: prefix of %d bytes accepted", m.name, v, i, n)
					}
				}
				walked++
			}
		}
	}
}

func TestKmsgEncodingsWalk(t *testing.T) {
	checkTable(t, requests, func(k int16) kmessage {
		if r := kmsg.RequestForKey(k); r != nil {
			return r
		}
		return nil
	})
	checkTable(t, responses, func(k int16) kmessage {
		if r := kmsg.ResponseForKey(k); r != nil {
			return r
		}
		return nil
	})
}

// requestVersions lists every key and version with a request schema that
// kmsg can also decode.
func requestVersions() [][2]int16 {
	var out [][2]int16
	for key, m := range requests {
		if m == nil {
			continue
		}
		r := kmsg.RequestForKey(int16(key))
		for v := m.min; r != nil && v <= m.max && v <= r.MaxVersion(); v++ {
			out = append(out, [2]int16{int16(key), v})
		}
	}
	return out
}

// FuzzRequestWalk: the walker never panics, and whatever it accepts and
// kmsg then decodes, kmsg's re-encoding of it is accepted too (and walks
// to its end). kmsg only sees bodies the walker accepted, so every count
// it loops on is bounded by the input.
func FuzzRequestWalk(f *testing.F) {
	pairs := requestVersions()
	index := map[[2]int16]uint16{}
	for i, p := range pairs {
		index[p] = uint16(i)
	}
	add := func(key, v int16, body []byte) {
		f.Add(binary.BigEndian.AppendUint16(nil, index[[2]int16{key, v}]), body)
	}
	for _, p := range pairs {
		for _, b := range encodings(func() kmessage { return kmsg.RequestForKey(p[0]) }, p[1]) {
			add(p[0], p[1], b)
		}
	}
	add(3, 12, append([]byte{0, 1, 1}, hugeTagCount...))
	add(18, 3, append([]byte{2, 'q', 2, '1'}, hugeTagCount...))
	f.Fuzz(func(t *testing.T, sel []byte, body []byte) {
		if len(sel) < 2 {
			return
		}
		p := pairs[int(binary.BigEndian.Uint16(sel))%len(pairs)]
		if err := Request(p[0], p[1], body); err != nil {
			return
		}
		req := kmsg.RequestForKey(p[0])
		req.SetVersion(p[1])
		if req.ReadFrom(body) != nil {
			return
		}
		again := req.AppendTo(nil)
		if rest, err := walkRest(requests, p[0], p[1], again); err != nil || rest != 0 {
			t.Fatalf("%s v%d: kmsg re-encoding %x of %x: %v, %d bytes left", kmsg.NameForKey(p[0]), p[1], again, body, err, rest)
		}
	})
}

// FuzzResponseWalk is FuzzRequestWalk for the response schemas (what the
// inter-broker client reads from peers).
func FuzzResponseWalk(f *testing.F) {
	var pairs [][2]int16
	for key, m := range responses {
		if m == nil {
			continue
		}
		r := kmsg.ResponseForKey(int16(key))
		for v := m.min; r != nil && v <= m.max && v <= r.MaxVersion(); v++ {
			pairs = append(pairs, [2]int16{int16(key), v})
		}
	}
	for i, p := range pairs {
		for _, b := range encodings(func() kmessage { return kmsg.ResponseForKey(p[0]) }, p[1]) {
			f.Add(binary.BigEndian.AppendUint16(nil, uint16(i)), b)
		}
	}
	f.Fuzz(func(t *testing.T, sel []byte, body []byte) {
		if len(sel) < 2 {
			return
		}
		p := pairs[int(binary.BigEndian.Uint16(sel))%len(pairs)]
		if err := Response(p[0], p[1], body); err != nil {
			return
		}
		resp := kmsg.ResponseForKey(p[0])
		resp.SetVersion(p[1])
		if resp.ReadFrom(body) != nil {
			return
		}
		again := resp.AppendTo(nil)
		if rest, err := walkRest(responses, p[0], p[1], again); err != nil || rest != 0 {
			t.Fatalf("%s response v%d: kmsg re-encoding %x of %x: %v, %d bytes left", kmsg.NameForKey(p[0]), p[1], again, body, err, rest)
		}
	})
}

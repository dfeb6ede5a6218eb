package server

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/protowalk"
)

// TestHandlerTableHasSchemas: conn.handle walks every request body before
// kmsg decodes it, and a key or version without a schema would be refused,
// so every version of every API in the handler table needs one.
func TestHandlerTableHasSchemas(t *testing.T) {
	s := &Server{}
	s.registerHandlers()
	n := 0
	for key, h := range s.handlers {
		if h == nil {
			continue
		}
		for v := h.min; v <= h.max; v++ {
			n++
			if !protowalk.HasRequest(int16(key), v) {
				t.Errorf("%s v%d is served but has no request schema", kmsg.NameForKey(int16(key)), v)
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d versions in the handler table", n)
	}
}

// TestHugeTagCountRejected: a Metadata v12 and an ApiVersions v3 request
// whose body's tag count is 2^32-1 (which kmsg would loop on for a minute
// and a half of CPU) fail the decode path at once.
func TestHugeTagCountRejected(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	md := frameFor(kmsg.NewPtrMetadataRequest(), 12, "c")
	md = append(md[:len(md)-1], huge...) // the body's trailing tag count
	av := frameFor(kmsg.NewPtrApiVersionsRequest(), 3, "c")
	av = append(av[:len(av)-1], huge...)
	for _, frame := range [][]byte{md, av} {
		_, err := decodeFrame(frame)
		if err == nil || errors.Is(err, protowalk.ErrNoSchema) {
			t.Errorf("frame %x: got %v, want a malformed-body error", frame, err)
		}
	}
}

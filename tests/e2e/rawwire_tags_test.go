package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/testutil"
)

// hugeTagCount is the uvarint 2^32-1. Read as a tagged-field count by
// kmsg unchecked, it costs about 85 s of CPU per request.
var hugeTagCount = []byte{0xff, 0xff, 0xff, 0xff, 0x0f}

// withHugeTagCount encodes req as a frame whose body's final tag count
// (its last byte, 0 in kmsg's encoding) is replaced by hugeTagCount.
func withHugeTagCount(t *testing.T, req kmsg.Request, corr int32) []byte {
	t.Helper()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, corr)
	if frame[len(frame)-1] != 0 {
		t.Fatalf("%s: encoding does not end with an empty tag section", kmsg.NameForKey(req.Key()))
	}
	return testutil.Frame(append(frame[4:len(frame)-1:len(frame)-1], hugeTagCount...))
}

// TestRawHugeTagCount: flexible requests with a tag count of 2^32-1 are
// refused at once (the connection closed, or ApiVersions answered
// INVALID_REQUEST as for any body that does not decode) and the broker
// keeps serving clients.
func TestRawHugeTagCount(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 1, nil)

	// The closes and answers are awaited for 30 s: far less than the
	// minute and a half of CPU a single unchecked request costs.
	const wait = 30 * time.Second
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	produce := produceRequest(9, -1, topic, 0, plainBatch("never stored"))
	for _, req := range []kmsg.Request{md, produce} {
		t.Run(kmsg.NameForKey(req.Key()), func(t *testing.T) {
			// Several connections at once: unchecked, each would
			// burn a core.
			conns := make([]*testutil.RawConn, 4)
			for i := range conns {
				conns[i] = testutil.DialRaw(t, b.Addr())
				if err := conns[i].WriteTolerant(withHugeTagCount(t, req, 1)); err != nil {
					t.Logf("write: %v (the broker may close early)", err)
				}
			}
			for _, rc := range conns {
				rc.ExpectClosed(wait)
			}
			stillServes(t, b)
		})
	}

	t.Run("ApiVersions", func(t *testing.T) {
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 3
		av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
		rc := testutil.DialRaw(t, b.Addr())
		rc.Write(withHugeTagCount(t, av, 9))
		body, err := rc.ReadResponseBody(9, false, wait)
		if err != nil {
			t.Fatalf("ApiVersions v3 with a huge tag count: %v", err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 3
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("error %s, want INVALID_REQUEST(42)", codeName(resp.ErrorCode))
		}
		// The same connection still serves a well-formed request.
		if r := rc.Request(av).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
			t.Errorf("well-formed ApiVersions after: %s", codeName(r.ErrorCode))
		}
	})

	// A real client still produces and consumes.
	cl := b.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after the malformed requests: %v", err)
	}
	got := consumeAll(t, b, topic)[0]
	if len(got) != 1 || string(got[0].Value) != "after" {
		t.Fatalf("consumed %d records, want only the one produced after", len(got))
	}
}

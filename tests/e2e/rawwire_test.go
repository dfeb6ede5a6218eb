package e2e

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const rawMaxRequest = 65536 // socket.request.max.bytes for TestRawBadFrames

// stillServes fails unless a new connection gets an ApiVersions answer.
func stillServes(t *testing.T, b *testutil.Broker) {
	t.Helper()
	if err := testutil.PingAPIVersions(b.Addr(), 5*time.Second); err != nil {
		t.Fatalf("broker no longer serves a new connection: %v", err)
	}
}

// TestRawBadFrames: malformed or unsupported requests close the connection
// (as Kafka's SocketServer does) and never take the broker down.
func TestRawBadFrames(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t, testutil.WithOverride("socket.request.max.bytes", strconv.Itoa(rawMaxRequest)))

	hdr := func(key, version int16) []byte { return testutil.RequestHeader(key, version, 1, "raw", false) }
	cases := []struct {
		name  string
		bytes []byte
	}{
		{"frame over socket.request.max.bytes", func() []byte {
			b := binary.BigEndian.AppendUint32(nil, rawMaxRequest+1)
			return append(b, hdr(3, 1)...) // the rest never comes
		}()},
		{"negative frame length", binary.BigEndian.AppendUint32(nil, 0xffffff00)},
		{"frame shorter than a header", testutil.Frame([]byte{0, 3})},
		{"unknown api key 9999", testutil.Frame(hdr(9999, 0))},
		{"unknown api key -1", testutil.Frame(hdr(-1, 0))},
		{"Metadata v99", testutil.Frame(append(hdr(3, 99), 0, 0, 0, 0))},
		{"Produce v99", testutil.Frame(hdr(0, 99))},
		// Metadata v4: the oldest version Kafka 4.0 still serves.
		{"Metadata v4 truncated body", testutil.Frame(append(hdr(3, 4), 0, 0, 0, 5, 0, 3, 'a'))},
		{"Metadata v4 empty body", testutil.Frame(hdr(3, 4))},
		{"Metadata v4 garbage body", testutil.Frame(append(hdr(3, 4), 0x7f, 0xff, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef))},
		{"Metadata v12 bad compact array", testutil.Frame(append(testutil.RequestHeader(3, 12, 1, "raw", true), 0xff, 0xff, 0xff, 0xff, 0x0f))},
		{"Produce v7 garbage body", testutil.Frame(append(hdr(0, 7), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))},
		{"client id longer than the frame", testutil.Frame([]byte{0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 'x'})},
		{"garbage", testutil.Frame([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := testutil.DialRaw(t, b.Addr())
			if err := rc.WriteTolerant(tc.bytes); err != nil {
				t.Logf("write: %v (the broker may close early)", err)
			}
			rc.ExpectClosed(5 * time.Second)
			stillServes(t, b)
		})
	}

	t.Run("plain HTTP request line", func(t *testing.T) {
		// "GET " read as a length is 1195725856: far over the limit.
		rc := testutil.DialRaw(t, b.Addr())
		_ = rc.WriteTolerant([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		rc.ExpectClosed(5 * time.Second)
		stillServes(t, b)
	})

	t.Run("frame at the limit is read", func(t *testing.T) {
		// A Metadata v4 request for 8000 (missing) topics, padded with
		// the client id to the exact limit, is within bounds: it must
		// be answered.
		const nTopics = 8000
		clientID := strings.Repeat("c", rawMaxRequest-15-8*nTopics)
		body := testutil.RequestHeader(3, 4, 42, clientID, false)
		body = binary.BigEndian.AppendUint32(body, nTopics)
		for i := 0; i < nTopics; i++ {
			body = binary.BigEndian.AppendUint16(body, 6)
			body = fmt.Appendf(body, "t%05d", i)
		}
		body = append(body, 0) // no auto-creation
		if len(body) != rawMaxRequest {
			t.Fatalf("built %d bytes", len(body))
		}
		rc := testutil.DialRaw(t, b.Addr())
		rc.Write(testutil.Frame(body))
		rb, err := rc.ReadResponseBody(42, false, 5*time.Second)
		if err != nil {
			t.Fatalf("request of exactly socket.request.max.bytes: %v (Kafka accepts size == max)", err)
		}
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = 4
		if err := resp.ReadFrom(rb); err != nil || len(resp.Brokers) != 1 || len(resp.Topics) != nTopics {
			t.Fatalf("metadata response: %v %+v", err, resp)
		}
	})

	t.Run("ApiVersions v99", func(t *testing.T) {
		rc := testutil.DialRaw(t, b.Addr())
		// Like a newer Java client: flexible header (v2) and a v3-style
		// body the broker cannot know.
		body := testutil.RequestHeader(18, 99, 77, "raw", true)
		body = append(body, 5, 'j', 'a', 'v', 'a', 4, '9', '.', '9', 0, 0xab, 0xcd)
		rc.Write(testutil.Frame(body))
		rb, err := rc.ReadResponseBody(77, false, 5*time.Second)
		if err != nil {
			t.Fatalf("ApiVersions v99: %v (KIP-511: the broker answers a v0 body)", err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(rb); err != nil {
			t.Fatalf("decode as v0: %v (% x)", err, rb)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Errorf("error %s, want UNSUPPORTED_VERSION(35)", codeName(resp.ErrorCode))
		}
		if len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MinVersion != 0 || resp.ApiKeys[0].MaxVersion < 3 {
			t.Errorf("ApiKeys %+v, want only ApiVersions (18) with its range 0..3+", resp.ApiKeys)
		}
		// The client retries on the same connection at the version
		// offered.
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName = "quill-e2e"
		req.ClientSoftwareVersion = "1.0"
		r2 := rc.Request(req).(*kmsg.ApiVersionsResponse)
		if r2.ErrorCode != 0 || len(r2.ApiKeys) < 10 {
			t.Errorf("ApiVersions v3 retry on the same connection: %s with %d keys", codeName(r2.ErrorCode), len(r2.ApiKeys))
		}
	})

	t.Run("ApiVersions v3 bad software name", func(t *testing.T) {
		rc := testutil.DialRaw(t, b.Addr())
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName = "bad name!"
		req.ClientSoftwareVersion = "1.0"
		resp, err := rc.RequestErr(req, 5*time.Second)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if c := resp.(*kmsg.ApiVersionsResponse).ErrorCode; c != kerr.InvalidRequest.Code {
			t.Errorf("error %s, want INVALID_REQUEST(42)", codeName(c))
		}
	})

	t.Run("parked fetch keeps the response order", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, b.Admin(t), topic, 1, nil)
		rc := testutil.DialRaw(t, b.Addr())
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))
		fetch := fetchReq(12, 0, -1, 1500) // at the log end: parks
		addFetchPartition(fetch, topic, [16]byte{}, 0, 0, 1<<20)
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 3
		av.ClientSoftwareName, av.ClientSoftwareVersion = "x", "1"
		// acks=0 produce: no response at all, then ApiVersions.
		p0 := produceRequest(9, 0, topic, 0, plainBatch("acks0"))
		c1, c2, c3 := rc.NextCorrelation(), rc.NextCorrelation(), rc.NextCorrelation()
		var frames []byte
		frames = append(frames, f.AppendRequest(nil, fetch, c1)...)
		frames = append(frames, f.AppendRequest(nil, p0, c2)...)
		frames = append(frames, f.AppendRequest(nil, av, c3)...)
		rc.Write(frames)
		if _, err := rc.ReadResponseBody(c1, true, 10*time.Second); err != nil {
			t.Fatalf("first response: %v (Kafka answers in request order: the parked fetch first)", err)
		}
		if _, err := rc.ReadResponseBody(c3, false, 10*time.Second); err != nil {
			t.Fatalf("second response: %v (an acks=0 produce gets none, then ApiVersions)", err)
		}
		got := consumeAll(t, b, topic)[0]
		if len(got) != 1 || string(got[0].Value) != "acks0" {
			t.Errorf("acks=0 produce stored %d records", len(got))
		}
	})

	t.Run("pipelined requests answered in order", func(t *testing.T) {
		rc := testutil.DialRaw(t, b.Addr())
		var frames []byte
		var corrs []int32
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))
		for i := 0; i < 20; i++ {
			var req kmsg.Request
			if i%2 == 0 {
				r := kmsg.NewPtrApiVersionsRequest()
				r.Version = 3
				r.ClientSoftwareName, r.ClientSoftwareVersion = "x", "1"
				req = r
			} else {
				r := kmsg.NewPtrMetadataRequest()
				r.Version = 12
				req = r
			}
			c := rc.NextCorrelation()
			corrs = append(corrs, c)
			frames = append(frames, f.AppendRequest(nil, req, c)...) // AppendRequest writes the length at dst[0]
		}
		rc.Write(frames)
		for i, c := range corrs {
			if _, err := rc.ReadResponseBody(c, i%2 == 1, 5*time.Second); err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
		}
	})
}

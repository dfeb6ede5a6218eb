package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKcat drives kcat (librdkafka 2.0.x): produce with keys, headers,
// null values and each codec; consume back; -L metadata; -Q offsets by
// timestamp; and reading franz-go's compressed batches.
func TestKcat(t *testing.T) {
	t.Parallel()
	testutil.RequireKcat(t)
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	cl := b.Client(t)

	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run("produce-"+codec, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, adm, topic, 1, nil)
			const n = 50
			var in strings.Builder
			for i := 0; i < n; i++ {
				if i%10 == 9 {
					fmt.Fprintf(&in, "null%d:\n", i) // -Z: empty value is NULL
				} else {
					fmt.Fprintf(&in, "key%d:value %d %s\n", i, i, strings.Repeat("q", 60+i))
				}
			}
			r := testutil.Kcat(t, 30*time.Second, b.Addr(), []byte(in.String()),
				"-P", "-t", topic, "-p", "0", "-K:", "-Z", "-z", codec,
				"-H", "h1=v1", "-H", "codec="+codec,
				"-X", "linger.ms=50", "-X", "acks=all")
			if r.Err != nil {
				t.Fatalf("kcat -P: %v", r)
			}
			r = testutil.Kcat(t, 30*time.Second, b.Addr(), nil,
				"-C", "-t", topic, "-e", "-o", "beginning", "-f", "%p|%o|%k|%S|%s|%h\n")
			if r.Err != nil {
				t.Fatalf("kcat -C: %v", r)
			}
			lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
			if len(lines) != n {
				t.Fatalf("kcat -C printed %d lines, want %d:\n%s\nstderr: %s", len(lines), n, r.Stdout, r.Stderr)
			}
			for i, l := range lines {
				var want string
				if i%10 == 9 {
					want = fmt.Sprintf("0|%d|null%d|-1||h1=v1,codec=%s", i, i, codec)
				} else {
					v := fmt.Sprintf("value %d %s", i, strings.Repeat("q", 60+i))
					want = fmt.Sprintf("0|%d|key%d|%d|%s|h1=v1,codec=%s", i, i, len(v), v, codec)
				}
				if l != want {
					t.Fatalf("line %d: %q, want %q", i, l, want)
				}
			}
			// What is stored must be what kcat was asked for.
			ids := map[string]int{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
			checkStoredCodec(t, "kcat -z "+codec, fetchCodecs(t, b, topic, 0), ids[codec])
		})
	}

	t.Run("consume-franz-codecs", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, adm, topic, 1, nil)
		var want []string
		for _, c := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
			pcl := b.Client(t, kgo.ProducerBatchCompression(c), kgo.ProducerLinger(10*time.Millisecond))
			var recs []*kgo.Record
			for i := 0; i < 20; i++ {
				v := fmt.Sprintf("franz-%d-%d", len(want), i)
				recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
				want = append(want, v)
			}
			produceSync(t, pcl, recs...)
		}
		r := testutil.Kcat(t, 30*time.Second, b.Addr(), nil, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%s\n")
		if r.Err != nil {
			t.Fatalf("kcat -C: %v", r)
		}
		if got := strings.TrimSuffix(r.Stdout, "\n"); got != strings.Join(want, "\n") {
			t.Fatalf("kcat read:\n%s\nwant:\n%s\nstderr: %s", got, strings.Join(want, "\n"), r.Stderr)
		}
	})

	t.Run("metadata-L", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, adm, topic, 3, nil)
		r := testutil.Kcat(t, 30*time.Second, b.Addr(), nil, "-L", "-J", "-t", topic)
		if r.Err != nil {
			t.Fatalf("kcat -L: %v", r)
		}
		var md struct {
			Brokers []struct {
				ID   int    `json:"id"`
				Name string `json:"name"`
			} `json:"brokers"`
			Topics []struct {
				Topic      string `json:"topic"`
				Error      string `json:"error"`
				Partitions []struct {
					Partition int `json:"partition"`
					Leader    int `json:"leader"`
					Replicas  []struct {
						ID int `json:"id"`
					} `json:"replicas"`
					ISRs []struct {
						ID int `json:"id"`
					} `json:"isrs"`
				} `json:"partitions"`
			} `json:"topics"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &md); err != nil {
			t.Fatalf("kcat -L -J output: %v\n%s", err, r.Stdout)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].Name != b.Addr() {
			t.Errorf("brokers %+v, want one named %s", md.Brokers, b.Addr())
		}
		if len(md.Topics) != 1 || md.Topics[0].Topic != topic || md.Topics[0].Error != "" || len(md.Topics[0].Partitions) != 3 {
			t.Fatalf("topics %+v, want %s with 3 partitions", md.Topics, topic)
		}
		for _, p := range md.Topics[0].Partitions {
			if len(md.Brokers) == 1 && (p.Leader != md.Brokers[0].ID || len(p.Replicas) != 1 || len(p.ISRs) != 1) {
				t.Errorf("partition %+v: want leader/replica/isr %d", p, md.Brokers[0].ID)
			}
		}
		// Plain -L lists every topic, including this one.
		r = testutil.Kcat(t, 30*time.Second, b.Addr(), nil, "-L")
		if r.Err != nil || !strings.Contains(r.Stdout, fmt.Sprintf("topic \"%s\" with 3 partitions", topic)) {
			t.Errorf("kcat -L does not list %s: %v", topic, r)
		}
	})

	t.Run("offsets-by-time-Q", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, adm, topic, 1, nil)
		t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
		for i := 0; i < 10; i++ {
			produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i)), Timestamp: t0.Add(time.Duration(i) * time.Second)})
		}
		re := regexp.MustCompile(regexp.QuoteMeta(topic) + ` \[0\] +offset (-?\d+)`)
		for _, tc := range []struct {
			ts   int64
			want int64
		}{
			{t0.UnixMilli(), 0},
			{t0.Add(3500 * time.Millisecond).UnixMilli(), 4},
			{t0.Add(9 * time.Second).UnixMilli(), 9},
			{t0.Add(time.Minute).UnixMilli(), -1},
		} {
			r := testutil.Kcat(t, 30*time.Second, b.Addr(), nil, "-Q", "-t", fmt.Sprintf("%s:0:%d", topic, tc.ts))
			if r.Err != nil {
				t.Fatalf("kcat -Q: %v", r)
			}
			m := re.FindStringSubmatch(r.Stdout)
			if m == nil {
				t.Fatalf("kcat -Q output not understood: %v", r)
			}
			// librdkafka shows "no match" (-1) as the end offset in
			// some versions; Kafka's answer on the wire is -1.
			if got, _ := strconv.ParseInt(m[1], 10, 64); got != tc.want && !(tc.want == -1 && got == 10) {
				t.Errorf("kcat -Q at t0%+dms: offset %d, want %d", tc.ts-t0.UnixMilli(), got, tc.want)
			}
		}
	})
}

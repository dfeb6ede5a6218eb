package cli

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestPerfProduceConsumeE2E(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t")

	// Missing topic without --partitions: explained failure.
	r := quill(t, b, "", "perf", "produce", topic, "--num-records", "10")
	if r.code != exitError || !strings.Contains(r.err.Error(), "--partitions") {
		t.Errorf("missing topic: code %d, err %v", r.code, r.err)
	}

	sum := decodeJSON[perfSummary](t, mustQuill(t, b, "", "perf", "produce", topic, "--num-records", "500", "--record-size", "64",
		"--partitions", "3", "--producers", "2", "--acks", "1", "--compression", "lz4", "--linger-ms", "1", "--batch-max-bytes", "65536", "-o", "json").stdout)
	if sum.Mode != "produce" || sum.Records != 500 || sum.Failed != 0 || sum.Bytes != 500*64 || sum.Latency == nil ||
		sum.Latency.Count != 500 || sum.Latency.Max <= 0 || sum.Latency.P50 > sum.Latency.P99 || sum.RecordsPerSec <= 0 {
		t.Errorf("perf produce summary: %+v %+v", sum, sum.Latency)
	}
	d := decodeJSON[topicDescription](t, mustQuill(t, b, "", "topic", "describe", topic, "-o", "json").stdout)
	if len(d.Partitions) != 3 {
		t.Errorf("perf produce created %d partitions, want 3", len(d.Partitions))
	}

	// Throttled: 200 records at 1000/s take about 0.2s.
	r = mustQuill(t, b, "", "perf", "produce", topic, "--num-records", "200", "--throughput", "1000", "--reporting-interval", "50ms")
	if !strings.Contains(r.stdout, "200 records sent") || !strings.Contains(r.stdout, "ack latency") {
		t.Errorf("perf produce text: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "records/sec") {
		t.Errorf("no progress lines on stderr: %q", r.stderr)
	}

	sum = decodeJSON[perfSummary](t, mustQuill(t, b, "", "perf", "consume", topic, "--num-records", "700", "-o", "json").stdout)
	if sum.Mode != "consume" || sum.Records != 700 || sum.Latency != nil {
		t.Errorf("perf consume: %+v", sum)
	}
	// Asking for more than exists times out with exit 1.
	r = quill(t, b, "", "perf", "consume", topic, "--num-records", "701", "--timeout", "300ms")
	if r.code != exitError || !strings.Contains(r.err.Error(), "700 of 701") {
		t.Errorf("perf consume short: code %d err %v", r.code, r.err)
	}

	sum = decodeJSON[perfSummary](t, mustQuill(t, b, "", "perf", "e2e", topic, "--num-records", "300", "--throughput", "3000", "-o", "json").stdout)
	if sum.Mode != "e2e" || sum.Records != 300 || sum.Latency == nil || sum.Latency.Count != 300 {
		t.Errorf("perf e2e: %+v", sum)
	}
	if r := quill(t, b, "", "perf", "e2e", topic, "--record-size", "4"); r.code != exitUsage {
		t.Errorf("e2e with 4-byte records: code %d", r.code)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 1000, 65535, 1 << 40, math.MaxUint64 >> 1} {
		i := histBucket(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucket(%d) = %d out of range", v, i)
		}
		if up := histUpper(i); up < v || (v >= histSub && float64(up-v)/float64(v) > 1.0/64) {
			t.Errorf("value %d: bucket %d upper %d", v, i, up)
		}
		if i > 0 && histUpper(i-1) >= v {
			t.Errorf("value %d also fits bucket %d", v, i-1)
		}
	}
	h := new(histogram)
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []float64
	for i := 0; i < 100000; i++ {
		us := rng.ExpFloat64() * 5000
		vals = append(vals, math.Floor(us))
		h.record(time.Duration(us) * time.Microsecond)
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := float64(h.quantile(q))
		if math.Abs(got-exact)/exact > 0.02 {
			t.Errorf("q%.3f: got %.0f, exact %.0f", q, got, exact)
		}
	}
	if s := h.summary(); s.Count != 100000 || s.Max != vals[len(vals)-1]/1000 {
		t.Errorf("summary %+v, max want %v", s, vals[len(vals)-1]/1000)
	}
	if new(histogram).quantile(0.99) != 0 {
		t.Error("empty histogram quantile not 0")
	}
}

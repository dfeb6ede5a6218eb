package cli

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram records latencies in microseconds into log-linear buckets: exact
// below 128µs, then 64 sub-buckets per power of two, so any reported
// quantile is within 1/64 (1.6%) of the true value. Memory is fixed (~30KB)
// however many values are recorded; it is safe for concurrent use.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sumUs  atomic.Uint64
	maxUs  atomic.Uint64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits       // exact values below this
	histHalf    = 1 << (histSubBits - 1) // sub-buckets per power of two
	histBuckets = histSub + (64-histSubBits)*histHalf
)

func histBucket(v uint64) int {
	if v < histSub {
		return int(v)
	}
	m := bits.Len64(v) - 1 // >= histSubBits
	shift := m - (histSubBits - 1)
	sub := v >> shift // in [histHalf, histSub)
	return histSub + (m-histSubBits)*histHalf + int(sub-histHalf)
}

// histUpper is the largest value that falls into bucket i.
func histUpper(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	k := i - histSub
	m := k/histHalf + histSubBits
	sub := uint64(k%histHalf + histHalf)
	shift := m - (histSubBits - 1)
	return (sub+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.counts[histBucket(us)].Add(1)
	h.total.Add(1)
	h.sumUs.Add(us)
	for {
		cur := h.maxUs.Load()
		if us <= cur || h.maxUs.CompareAndSwap(cur, us) {
			return
		}
	}
}

// quantile returns the value at quantile q (0..1), in microseconds.
func (h *histogram) quantile(q float64) uint64 {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	target := uint64(q*float64(total) + 0.999999)
	target = max(target, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= target {
			return min(histUpper(i), h.maxUs.Load())
		}
	}
	return h.maxUs.Load()
}

// latencySummary is the latency part of the perf summary, in milliseconds.
type latencySummary struct {
	Count uint64  `json:"count" yaml:"count"`
	Avg   float64 `json:"avg_ms" yaml:"avg_ms"`
	P50   float64 `json:"p50_ms" yaml:"p50_ms"`
	P95   float64 `json:"p95_ms" yaml:"p95_ms"`
	P99   float64 `json:"p99_ms" yaml:"p99_ms"`
	P999  float64 `json:"p99_9_ms" yaml:"p99_9_ms"`
	Max   float64 `json:"max_ms" yaml:"max_ms"`
}

func (h *histogram) summary() latencySummary {
	ms := func(us uint64) float64 { return float64(us) / 1000 }
	s := latencySummary{
		Count: h.total.Load(),
		P50:   ms(h.quantile(0.50)),
		P95:   ms(h.quantile(0.95)),
		P99:   ms(h.quantile(0.99)),
		P999:  ms(h.quantile(0.999)),
		Max:   ms(h.maxUs.Load()),
	}
	if s.Count > 0 {
		s.Avg = ms(h.sumUs.Load()) / float64(s.Count)
	}
	return s
}

package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram buckets: values below 2^subBits nanoseconds are exact; above,
// every power of two is split into 2^subBits buckets, so a reported value is
// at most 1/2^subBits (0.8%) above the true one. Values above maxTracked are
// counted in the last bucket (and Max stays exact).
const (
	subBits    = 7
	subCount   = 1 << subBits
	maxExp     = 40 // 2^40 ns ≈ 18 min
	numBuckets = (maxExp - subBits + 2) * subCount
	maxTracked = int64(1)<<(maxExp+1) - 1
)

// Histogram records durations. It is safe for concurrent use: Record is a
// few atomic adds, so many receiver goroutines can share one.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; wraps only after ~584 years of total latency
	max    atomic.Int64
	min    atomic.Int64 // 0 when empty; stored as value+1 to tell empty from 0
}

// bucketOf returns the bucket of v (v >= 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	if v > maxTracked {
		v = maxTracked
	}
	e := bits.Len64(uint64(v)) - 1 // v in [2^e, 2^(e+1)), e >= subBits
	shift := e - subBits
	m := int(v >> uint(shift)) // in [subCount, 2*subCount)
	return (shift+1)*subCount + m - subCount
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	q, r := i/subCount, i%subCount
	if q == 0 {
		return int64(r)
	}
	shift := uint(q - 1)
	lo := int64(subCount+r) << shift
	return lo + int64(1)<<shift - 1
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.min.Load()
		if (cur != 0 && v+1 >= cur) || h.min.CompareAndSwap(cur, v+1) {
			break
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest recorded value (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() time.Duration {
	if v := h.min.Load(); v > 0 {
		return time.Duration(v - 1)
	}
	return 0
}

// Mean is the average of the recorded values, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value at quantile q in [0, 1]: the smallest bucket
// bound such that at least ceil(q*n) values are at or below it, never above
// Max. It returns 0 when the histogram is empty. Quantile reads while
// Record may still run; the result then reflects some recent state.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var cum uint64
	mx := h.max.Load()
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			return time.Duration(min(bucketHigh(i), mx))
		}
	}
	return time.Duration(mx)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if om := o.max.Load(); om > h.max.Load() {
		h.max.Store(om)
	}
	if omin := o.min.Load(); omin > 0 {
		if cur := h.min.Load(); cur == 0 || omin < cur {
			h.min.Store(omin)
		}
	}
}

// LatencySummary is a histogram's digest, in milliseconds for JSON.
type LatencySummary struct {
	Count  uint64  `json:"count"`
	MinMs  float64 `json:"minMs"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
	P999Ms float64 `json:"p999Ms"`
	MaxMs  float64 `json:"maxMs"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Summary digests h.
func (h *Histogram) Summary() LatencySummary {
	return LatencySummary{
		Count:  h.Count(),
		MinMs:  ms(h.Min()),
		MeanMs: ms(h.Mean()),
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P99Ms:  ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)),
		MaxMs:  ms(h.Max()),
	}
}

package loadgen

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketBoundsContainValue(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(v int64) {
		t.Helper()
		i := bucketOf(v)
		hi := bucketHigh(i)
		if v > maxTracked {
			if i != numBuckets-1 {
				t.Fatalf("value %d above range: bucket %d, want the last (%d)", v, i, numBuckets-1)
			}
			return
		}
		if hi < v {
			t.Fatalf("value %d: bucket %d high bound %d is below it", v, i, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Fatalf("value %d: previous bucket %d already reaches %d", v, i-1, bucketHigh(i-1))
		}
		if v > 0 && float64(hi-v)/float64(v) > 1.0/subCount {
			t.Fatalf("value %d: bound %d is %.4f%% above, want <= %.4f%%", v, hi, 100*float64(hi-v)/float64(v), 100.0/subCount)
		}
	}
	for v := range int64(5000) {
		check(v)
	}
	for range 100_000 {
		check(rng.Int64N(maxTracked))
	}
	for e := 0; e <= maxExp; e++ {
		p := int64(1) << e
		check(p - 1)
		check(p)
		check(p + 1)
	}
	check(maxTracked)
	check(maxTracked + 1)
	check(1 << 62)
	if got := bucketOf(maxTracked); got != numBuckets-1 {
		t.Fatalf("bucketOf(maxTracked) = %d, want %d", got, numBuckets-1)
	}
}

// exactQuantile is the nearest-rank quantile of sorted v.
func exactQuantile(v []int64, q float64) int64 {
	rank := int(q*float64(len(v)) + 0.999999999)
	rank = max(rank, 1)
	return v[rank-1]
}

func TestQuantilesMatchExactWithinPrecision(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	dists := map[string]func() int64{
		"uniform 0-10ms":  func() int64 { return rng.Int64N(int64(10 * time.Millisecond)) },
		"exponential 1ms": func() int64 { return int64(rng.ExpFloat64() * float64(time.Millisecond)) },
		"bimodal with tail": func() int64 {
			if rng.IntN(1000) == 0 {
				return int64(200*time.Millisecond) + rng.Int64N(int64(time.Second))
			}
			return int64(500*time.Microsecond) + rng.Int64N(int64(100*time.Microsecond))
		},
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 200_000)
			for i := range vals {
				vals[i] = gen()
				h.Record(time.Duration(vals[i]))
			}
			slices.Sort(vals)
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				want := exactQuantile(vals, q)
				got := int64(h.Quantile(q))
				if got < want || float64(got-want) > float64(want)/subCount+1 {
					t.Errorf("q%.3f = %d, exact %d: want within +%.2f%%", q, got, want, 100.0/subCount)
				}
			}
			if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) {
				t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), time.Duration(vals[0]), time.Duration(vals[len(vals)-1]))
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("count = %d, want %d", h.Count(), len(vals))
			}
		})
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	t.Parallel()
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Min() != 0 || h.Max() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	if s := h.Summary(); s.Count != 0 || s.P99Ms != 0 {
		t.Fatalf("empty summary = %+v", s)
	}
	h.Record(-5 * time.Millisecond)
	if h.Max() != 0 || h.Quantile(1) != 0 || h.Count() != 1 {
		t.Fatal("a negative duration must count as 0")
	}
	h.Record(3 * time.Millisecond)
	if got := h.Quantile(1); got != 3*time.Millisecond {
		t.Fatalf("p100 = %v, want the exact max 3ms", got)
	}
	if got := h.Mean(); got != 1500*time.Microsecond {
		t.Fatalf("mean = %v, want 1.5ms", got)
	}
}

func TestHistogramMergeAndConcurrentRecord(t *testing.T) {
	t.Parallel()
	var a, b Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := &a
			if g%2 == 1 {
				dst = &b
			}
			for i := range 1000 {
				dst.Record(time.Duration(g*1000+i+1) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	a.Merge(&b)
	if a.Count() != 8000 {
		t.Fatalf("count = %d, want 8000", a.Count())
	}
	if a.Min() != time.Microsecond || a.Max() != 8000*time.Microsecond {
		t.Fatalf("min/max = %v/%v, want 1µs/8ms", a.Min(), a.Max())
	}
	p50 := a.Quantile(0.5)
	if p50 < 4000*time.Microsecond || p50 > 4000*time.Microsecond*(subCount+1)/subCount {
		t.Fatalf("p50 = %v, want ~4ms", p50)
	}
}

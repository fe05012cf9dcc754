package tripsense

import "sort"

// maxPending bounds how many out-of-order deliveries a Watermark remembers.
// Past it the oldest are forgotten, which can only make the watermark lower
// (safe: a message is never counted as seen without being delivered).
const maxPending = 256

// Watermark computes, for one connection and one room, the highest index up
// to which every message was delivered or otherwise seen. It starts at the
// baseline (what the user had seen when the connection opened), advances
// when index Level()+1 is delivered, and remembers a bounded number of
// out-of-order deliveries so a later gap-filler can advance past them.
//
// This is the one implementation of the read-cursor rule "a message whose
// push failed is never counted as seen". The zero value starts at 0.
// A Watermark is not safe for concurrent use.
type Watermark struct {
	level   int64
	pending []int64 // sorted, all > level+1
}

// NewWatermark returns a watermark at baseline.
func NewWatermark(baseline int64) Watermark { return Watermark{level: baseline} }

// RestoreWatermark returns the watermark at level that remembers the
// out-of-order deliveries pending (what Pending returned), for a store that
// keeps watermarks between processes. Entries at or below level+1 are
// applied.
func RestoreWatermark(level int64, pending []int64) Watermark {
	w := Watermark{level: level}
	for _, i := range pending {
		w.Delivered(i)
	}
	return w
}

// Pending returns the remembered out-of-order deliveries, ascending (a
// copy).
func (w *Watermark) Pending() []int64 { return append([]int64(nil), w.pending...) }

// Trim forgets all but the highest limit remembered deliveries (limit <= 0
// or above the in-memory bound means that bound); forgetting only keeps the
// watermark lower.
func (w *Watermark) Trim(limit int) { w.trim(limit) }

func (w *Watermark) trim(limit int) {
	if limit <= 0 || limit > maxPending {
		limit = maxPending
	}
	if len(w.pending) > limit {
		// Forget the oldest by re-slicing, not by moving the rest down: a
		// connection held above a gap (a room it was added to and never
		// synced) remembers every delivery, and copying 256 entries at
		// each was 6% of the server's CPU with 100 senders. append copies
		// them once the array's end is reached, every ~limit deliveries.
		w.pending = w.pending[len(w.pending)-limit:]
	}
}

// Level returns the current watermark.
func (w *Watermark) Level() int64 { return w.level }

// Delivered records that index reached the connection.
func (w *Watermark) Delivered(index int64) {
	switch {
	case index <= w.level:
		return
	case index == w.level+1:
		w.level = index
		w.drain()
	default:
		if n := len(w.pending); n == 0 || index > w.pending[n-1] {
			// Above a gap deliveries come in index order: the last place.
			w.pending = append(w.pending, index)
		} else {
			i := sort.Search(n, func(i int) bool { return w.pending[i] >= index })
			if w.pending[i] == index {
				return
			}
			w.pending = append(w.pending, 0)
			copy(w.pending[i+1:], w.pending[i:])
			w.pending[i] = index
		}
		w.trim(maxPending)
	}
}

// SeenThrough raises the watermark to index (the user sent or marked read
// everything up to it).
func (w *Watermark) SeenThrough(index int64) {
	if index <= w.level {
		return
	}
	w.level = index
	w.drain()
}

func (w *Watermark) drain() {
	n := 0
	for n < len(w.pending) && w.pending[n] <= w.level+1 {
		if w.pending[n] == w.level+1 {
			w.level++
		}
		n++
	}
	if n > 0 {
		w.pending = append(w.pending[:0], w.pending[n:]...)
	}
}

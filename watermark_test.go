package tripsense_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tripsense/tripsense"
)

// TestWatermarkRestore: a watermark rebuilt from its level and pending
// deliveries (how store/dynamo keeps one between processes) behaves like
// the one that was saved.
func TestWatermarkRestore(t *testing.T) {
	t.Parallel()
	w := tripsense.NewWatermark(5)
	for _, i := range []int64{8, 10, 7} {
		w.Delivered(i)
	}
	if w.Level() != 5 || !slices.Equal(w.Pending(), []int64{7, 8, 10}) {
		t.Fatalf("level %d pending %v", w.Level(), w.Pending())
	}
	r := tripsense.RestoreWatermark(w.Level(), w.Pending())
	r.Delivered(6)
	if r.Level() != 8 || !slices.Equal(r.Pending(), []int64{10}) {
		t.Fatalf("restored: level %d pending %v, want 8 [10]", r.Level(), r.Pending())
	}
	// Entries at or below level+1 are applied on restore.
	if r := tripsense.RestoreWatermark(3, []int64{2, 4, 5, 9}); r.Level() != 5 || !slices.Equal(r.Pending(), []int64{9}) {
		t.Fatalf("restore applies: level %d pending %v", r.Level(), r.Pending())
	}
	// Trim keeps the highest entries.
	r = tripsense.RestoreWatermark(0, []int64{2, 3, 4, 5})
	r.Trim(2)
	if !slices.Equal(r.Pending(), []int64{4, 5}) {
		t.Fatalf("Trim(2): %v", r.Pending())
	}
	r.Delivered(1)
	if r.Level() != 1 {
		t.Fatalf("after trim, level %d, want 1 (2 and 3 forgotten)", r.Level())
	}
}

// TestWatermarkMatchesItsModel: random deliveries (in order, out of order,
// repeated, far above a gap) and SeenThrough leave the watermark where a
// plain model of the rule puts it: the level is the highest index up to
// which everything was delivered or seen, and the highest maxPending (256)
// deliveries above level+1 are remembered.
func TestWatermarkMatchesItsModel(t *testing.T) {
	t.Parallel()
	const remembered = 256
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		base := rng.Int64N(5)
		w := tripsense.NewWatermark(base)
		level, seen := base, map[int64]bool{}
		stuck := round%2 == 0 // the gap stays open for the first 1000 operations
		for op := range 1500 {
			var i int64
			switch r := rng.IntN(100); {
			case stuck && op < 1000 && r < 95:
				i = level + 2 + int64(op) + rng.Int64N(3) // far above a gap: past the 256 remembered
			case r < 60:
				i = level + 2 + int64(op%400) // above a gap, mostly rising
			case r < 85:
				i = level + 1 + rng.Int64N(8)
			case r < 95:
				i = max(0, level-rng.Int64N(3))
			default:
				i = level + rng.Int64N(20)
				w.SeenThrough(i)
				level = max(level, i)
				for seen[level+1] {
					level++
				}
				goto check
			}
			w.Delivered(i)
			if i > level {
				seen[i] = true
				for seen[level+1] {
					level++
				}
			}
		check:
			var above []int64
			for k := range seen {
				if k <= level {
					delete(seen, k)
				} else {
					above = append(above, k)
				}
			}
			slices.Sort(above)
			if len(above) > remembered {
				for _, k := range above[:len(above)-remembered] {
					delete(seen, k)
				}
				above = above[len(above)-remembered:]
			}
			if w.Level() != level || !slices.Equal(w.Pending(), above) {
				t.Fatalf("round %d op %d (index %d): level %d pending %v; the model says %d %v", round, op, i, w.Level(), w.Pending(), level, above)
			}
		}
	}
}

// BenchmarkWatermarkAboveAGap: a connection whose watermark is held by a
// gap (a room it was added to and never synced) records each live
// delivery: constant work per delivery, not the 256 remembered entries.
func BenchmarkWatermarkAboveAGap(b *testing.B) {
	w := tripsense.NewWatermark(0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.Delivered(int64(i) + 2)
	}
}

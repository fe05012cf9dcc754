package tripsense_test

import (
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

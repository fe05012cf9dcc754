package storetest

import (
	"context"
	"sync"
	"testing"
)

func testReadCursorForwardOnly(t *testing.T, h *harness) {
	s, _ := h.open(t)
	MustAppendN(t, s, "r", "u2", 5)
	if c := MustReadCursor(t, s, "u1", "r"); c.LastRead != 0 || c.UserID != "u1" || c.Room != "r" || !c.UpdatedAt.IsZero() {
		t.Fatalf("unwritten read cursor = %+v, want {u1 r 0 zero}", c)
	}
	steps := []struct {
		advance, want int64
		moved         bool
	}{
		{3, 3, true},   // forward
		{2, 3, false},  // never backwards
		{0, 3, false},  // never backwards
		{-1, 3, false}, // nonsense is ignored
		{3, 3, false},  // same
		{100, 5, true}, // clamped to head
		{4, 5, false},
	}
	for _, st := range steps {
		c, moved := MustAdvanceReadCursor(t, s, "u1", "r", st.advance)
		if c.LastRead != st.want || c.UserID != "u1" || c.Room != "r" || moved != st.moved {
			t.Fatalf("AdvanceReadCursor(%d) = %+v moved=%v, want LastRead %d moved=%v", st.advance, c, moved, st.want, st.moved)
		}
		if c.UpdatedAt.IsZero() {
			t.Fatalf("AdvanceReadCursor(%d): UpdatedAt is zero", st.advance)
		}
		if got := MustReadCursor(t, s, "u1", "r"); got.LastRead != st.want {
			t.Fatalf("ReadCursor after AdvanceReadCursor(%d) = %d, want %d", st.advance, got.LastRead, st.want)
		}
	}
	MustAppendN(t, s, "r", "u2", 2)
	if c, moved := MustAdvanceReadCursor(t, s, "u1", "r", 100); c.LastRead != 7 || !moved {
		t.Fatalf("AdvanceReadCursor after new messages = %d moved=%v, want 7 moved", c.LastRead, moved)
	}
	if c := MustReadCursor(t, s, "u2", "r"); c.LastRead != 0 {
		t.Fatalf("another user's read cursor = %d, want 0", c.LastRead)
	}
	// An empty room clamps to 0 and reports no move.
	if c, moved := MustAdvanceReadCursor(t, s, "u1", "empty", 4); c.LastRead != 0 || moved {
		t.Fatalf("AdvanceReadCursor(empty room) = %+v moved=%v, want 0 not moved", c, moved)
	}
}

// testReadCursorApartFromDelivered: the two kinds of cursor never move
// each other, in either direction, on any device: the read cursor is one
// per (user, room), the delivered cursors one per (user, device, room).
func testReadCursorApartFromDelivered(t *testing.T, h *harness) {
	s, _ := h.open(t)
	MustAppendN(t, s, "r", "u2", 6)
	MustAdvanceCursor(t, s, "u1", "", "r", 5)
	MustAdvanceCursor(t, s, "u1", "tablet", "r", 3)
	if c := MustReadCursor(t, s, "u1", "r"); c.LastRead != 0 {
		t.Fatalf("read cursor after a delivered-cursor advance = %d, want 0", c.LastRead)
	}
	if cs := MustReadCursors(t, s, "u1"); len(cs) != 0 {
		t.Fatalf("ReadCursors after a delivered-cursor advance = %+v, want none", cs)
	}
	MustAdvanceReadCursor(t, s, "u1", "r", 6)
	if c := MustCursor(t, s, "u1", "", "r"); c.LastSeen != 5 {
		t.Fatalf("delivered cursor after a read-cursor advance = %d, want 5", c.LastSeen)
	}
	if c := MustCursor(t, s, "u1", "tablet", "r"); c.LastSeen != 3 {
		t.Fatalf("tablet's delivered cursor after a read-cursor advance = %d, want 3", c.LastSeen)
	}
	if c := MustReadCursor(t, s, "u1", "r"); c.LastRead != 6 {
		t.Fatalf("read cursor = %d, want 6", c.LastRead)
	}
}

func testReadCursorConcurrent(t *testing.T, h *harness) {
	s, _ := h.open(t)
	const head = 30
	MustAppendN(t, s, "r", "u2", head)
	var wg sync.WaitGroup
	var mu sync.Mutex
	moves := 0
	start := make(chan struct{})
	for v := int64(1); v <= head+10; v++ {
		wg.Go(func() {
			<-start
			c, moved, err := s.AdvanceReadCursor(context.Background(), "u1", "r", v)
			if err != nil {
				t.Errorf("AdvanceReadCursor(%d): %v", v, err)
				return
			}
			if c.LastRead < min(v, head) {
				t.Errorf("AdvanceReadCursor(%d) returned %d, below what was asked", v, c.LastRead)
			}
			if moved {
				mu.Lock()
				moves++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if c := MustReadCursor(t, s, "u1", "r"); c.LastRead != head {
		t.Fatalf("read cursor after concurrent advances = %d, want %d", c.LastRead, head)
	}
	if moves < 1 || moves > head {
		t.Fatalf("%d advances reported a move, want 1..%d", moves, head)
	}
}

func testReadCursorsAndReceipts(t *testing.T, h *harness) {
	s, _ := h.open(t)
	if cs := MustReadCursors(t, s, "u1"); len(cs) != 0 {
		t.Fatalf("ReadCursors before any = %+v, want none", cs)
	}
	if rs := MustReceipts(t, s, "r1"); len(rs) != 0 {
		t.Fatalf("Receipts before any = %+v, want none", rs)
	}
	MustAppendN(t, s, "r2", "u9", 4)
	MustAppendN(t, s, "r1", "u9", 6)
	MustAppendN(t, s, "r10", "u9", 2)
	MustAdvanceReadCursor(t, s, "u1", "r2", 3)
	MustAdvanceReadCursor(t, s, "u1", "r1", 6)
	MustAdvanceReadCursor(t, s, "u1", "r10", 9)
	MustAdvanceReadCursor(t, s, "u10", "r1", 1) // "u1" is a prefix of "u10"
	MustAdvanceReadCursor(t, s, "u2", "r1", 2)
	MustAdvanceReadCursor(t, s, "u2", "r10", 1) // "r1" is a prefix of "r10"

	type rc struct {
		user, room string
		last       int64
	}
	check := func(what string, got []rc, want []rc) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s = %+v, want %+v", what, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s = %+v, want %+v", what, got, want)
			}
		}
	}
	var got []rc
	for _, c := range MustReadCursors(t, s, "u1") {
		if c.UpdatedAt.IsZero() {
			t.Errorf("ReadCursors(u1): %+v has no UpdatedAt", c)
		}
		got = append(got, rc{c.UserID, c.Room, c.LastRead})
	}
	check("ReadCursors(u1) (sorted by room)", got, []rc{{"u1", "r1", 6}, {"u1", "r10", 2}, {"u1", "r2", 3}})
	got = nil
	for _, c := range MustReceipts(t, s, "r1") {
		if c.UpdatedAt.IsZero() {
			t.Errorf("Receipts(r1): %+v has no UpdatedAt", c)
		}
		got = append(got, rc{c.UserID, c.Room, c.LastRead})
	}
	check("Receipts(r1) (sorted by user)", got, []rc{{"u1", "r1", 6}, {"u10", "r1", 1}, {"u2", "r1", 2}})
	// A receipt follows the cursor.
	MustAdvanceReadCursor(t, s, "u10", "r1", 4)
	got = nil
	for _, c := range MustReceipts(t, s, "r1") {
		got = append(got, rc{c.UserID, c.Room, c.LastRead})
	}
	check("Receipts(r1) after u10 read on", got, []rc{{"u1", "r1", 6}, {"u10", "r1", 4}, {"u2", "r1", 2}})
}

package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/tripsense/tripsense"
)

func testCursorForwardOnly(t *testing.T, h *harness) {
	s, _ := h.open(t)
	MustAppendN(t, s, "r", "u2", 5)
	if c := MustCursor(t, s, "u1", "r"); c.LastSeen != 0 || c.UserID != "u1" || c.Room != "r" || !c.UpdatedAt.IsZero() {
		t.Fatalf("unwritten cursor = %+v, want {u1 r 0 zero}", c)
	}
	steps := []struct{ advance, want int64 }{
		{3, 3},   // forward
		{2, 3},   // never backwards
		{0, 3},   // never backwards
		{-1, 3},  // nonsense is ignored
		{3, 3},   // same
		{100, 5}, // clamped to head
		{4, 5},
	}
	for _, st := range steps {
		c := MustAdvanceCursor(t, s, "u1", "r", st.advance)
		if c.LastSeen != st.want || c.UserID != "u1" || c.Room != "r" {
			t.Fatalf("AdvanceCursor(%d) = %+v, want LastSeen %d", st.advance, c, st.want)
		}
		if c.UpdatedAt.IsZero() {
			t.Fatalf("AdvanceCursor(%d): UpdatedAt is zero", st.advance)
		}
		if got := MustCursor(t, s, "u1", "r"); got.LastSeen != st.want {
			t.Fatalf("Cursor after AdvanceCursor(%d) = %d, want %d", st.advance, got.LastSeen, st.want)
		}
	}
	// New messages let the cursor move again.
	MustAppendN(t, s, "r", "u2", 2)
	if c := MustAdvanceCursor(t, s, "u1", "r", 100); c.LastSeen != 7 {
		t.Fatalf("AdvanceCursor after new messages = %d, want 7", c.LastSeen)
	}
	if c := MustCursor(t, s, "u2", "r"); c.LastSeen != 0 {
		t.Fatalf("another user's cursor = %d, want 0", c.LastSeen)
	}
}

func testCursorEmptyRoom(t *testing.T, h *harness) {
	s, _ := h.open(t)
	for _, v := range []int64{10, 1, 0} {
		if c := MustAdvanceCursor(t, s, "u1", "empty", v); c.LastSeen != 0 {
			t.Fatalf("AdvanceCursor(empty room, %d) = %d, want 0", v, c.LastSeen)
		}
	}
	if c := MustCursor(t, s, "u1", "empty"); c.LastSeen != 0 {
		t.Fatalf("Cursor(empty room) = %d, want 0", c.LastSeen)
	}
	// Once the room has a message, the earlier clamp does not hold the cursor back.
	MustAppendN(t, s, "empty", "u2", 1)
	if c := MustAdvanceCursor(t, s, "u1", "empty", 10); c.LastSeen != 1 {
		t.Fatalf("AdvanceCursor after the first message = %d, want 1", c.LastSeen)
	}
}

func testCursorConcurrent(t *testing.T, h *harness) {
	s, _ := h.open(t)
	const head = 30
	MustAppendN(t, s, "r", "u2", head)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for v := int64(1); v <= head+10; v++ {
		wg.Go(func() {
			<-start
			c, err := s.AdvanceCursor(context.Background(), "u1", "r", v)
			if err != nil {
				t.Errorf("AdvanceCursor(%d): %v", v, err)
				return
			}
			if c.LastSeen < min(v, head) {
				t.Errorf("AdvanceCursor(%d) returned %d, below what was asked", v, c.LastSeen)
			}
		})
	}
	close(start)
	wg.Wait()
	if c := MustCursor(t, s, "u1", "r"); c.LastSeen != head {
		t.Fatalf("cursor after concurrent advances = %d, want %d", c.LastSeen, head)
	}
}

func testCursors(t *testing.T, h *harness) {
	s, _ := h.open(t)
	if cs := MustCursors(t, s, "u1"); len(cs) != 0 {
		t.Fatalf("Cursors before any = %+v, want none", cs)
	}
	MustAppendN(t, s, "r2", "u9", 4)
	MustAppendN(t, s, "r1", "u9", 6)
	MustAppendN(t, s, "r10", "u9", 2)
	MustAdvanceCursor(t, s, "u1", "r2", 3)
	MustAdvanceCursor(t, s, "u1", "r1", 6)
	MustAdvanceCursor(t, s, "u1", "r10", 9)
	MustAdvanceCursor(t, s, "u10", "r1", 1) // "u1" is a prefix of "u10"
	MustAdvanceCursor(t, s, "u2", "r1", 2)
	want := []tripsense.Cursor{{UserID: "u1", Room: "r1", LastSeen: 6}, {UserID: "u1", Room: "r10", LastSeen: 2}, {UserID: "u1", Room: "r2", LastSeen: 3}}
	got := MustCursors(t, s, "u1")
	if len(got) != len(want) {
		t.Fatalf("Cursors(u1) = %+v, want %+v (sorted by room)", got, want)
	}
	for i := range want {
		if got[i].UserID != want[i].UserID || got[i].Room != want[i].Room || got[i].LastSeen != want[i].LastSeen || got[i].UpdatedAt.IsZero() {
			t.Fatalf("Cursors(u1)[%d] = %+v, want %+v with UpdatedAt set", i, got[i], want[i])
		}
		if one := MustCursor(t, s, "u1", want[i].Room); one.LastSeen != got[i].LastSeen || one.UpdatedAt.UnixMilli() != got[i].UpdatedAt.UnixMilli() {
			t.Errorf("Cursor(u1, %s) = %+v, Cursors listed %+v", want[i].Room, one, got[i])
		}
	}
	if cs := MustCursors(t, s, "u2"); len(cs) != 1 || cs[0].Room != "r1" || cs[0].LastSeen != 2 {
		t.Fatalf("Cursors(u2) = %+v, want [r1:2]", cs)
	}
}

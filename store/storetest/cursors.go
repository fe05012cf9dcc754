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
	if c := MustCursor(t, s, "u1", "", "r"); c.LastSeen != 0 || c.UserID != "u1" || c.Room != "r" || !c.UpdatedAt.IsZero() {
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
		c := MustAdvanceCursor(t, s, "u1", "", "r", st.advance)
		if c.LastSeen != st.want || c.UserID != "u1" || c.Room != "r" {
			t.Fatalf("AdvanceCursor(%d) = %+v, want LastSeen %d", st.advance, c, st.want)
		}
		if c.UpdatedAt.IsZero() {
			t.Fatalf("AdvanceCursor(%d): UpdatedAt is zero", st.advance)
		}
		if got := MustCursor(t, s, "u1", "", "r"); got.LastSeen != st.want {
			t.Fatalf("Cursor after AdvanceCursor(%d) = %d, want %d", st.advance, got.LastSeen, st.want)
		}
	}
	// New messages let the cursor move again.
	MustAppendN(t, s, "r", "u2", 2)
	if c := MustAdvanceCursor(t, s, "u1", "", "r", 100); c.LastSeen != 7 {
		t.Fatalf("AdvanceCursor after new messages = %d, want 7", c.LastSeen)
	}
	if c := MustCursor(t, s, "u2", "", "r"); c.LastSeen != 0 {
		t.Fatalf("another user's cursor = %d, want 0", c.LastSeen)
	}
}

func testCursorEmptyRoom(t *testing.T, h *harness) {
	s, _ := h.open(t)
	for _, v := range []int64{10, 1, 0} {
		if c := MustAdvanceCursor(t, s, "u1", "", "empty", v); c.LastSeen != 0 {
			t.Fatalf("AdvanceCursor(empty room, %d) = %d, want 0", v, c.LastSeen)
		}
	}
	if c := MustCursor(t, s, "u1", "", "empty"); c.LastSeen != 0 {
		t.Fatalf("Cursor(empty room) = %d, want 0", c.LastSeen)
	}
	// Once the room has a message, the earlier clamp does not hold the cursor back.
	MustAppendN(t, s, "empty", "u2", 1)
	if c := MustAdvanceCursor(t, s, "u1", "", "empty", 10); c.LastSeen != 1 {
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
			c, err := s.AdvanceCursor(context.Background(), "u1", "", "r", v)
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
	if c := MustCursor(t, s, "u1", "", "r"); c.LastSeen != head {
		t.Fatalf("cursor after concurrent advances = %d, want %d", c.LastSeen, head)
	}
}

func testCursors(t *testing.T, h *harness) {
	s, _ := h.open(t)
	if cs := MustCursors(t, s, "u1", ""); len(cs) != 0 {
		t.Fatalf("Cursors before any = %+v, want none", cs)
	}
	MustAppendN(t, s, "r2", "u9", 4)
	MustAppendN(t, s, "r1", "u9", 6)
	MustAppendN(t, s, "r10", "u9", 2)
	MustAdvanceCursor(t, s, "u1", "", "r2", 3)
	MustAdvanceCursor(t, s, "u1", "", "r1", 6)
	MustAdvanceCursor(t, s, "u1", "", "r10", 9)
	MustAdvanceCursor(t, s, "u10", "", "r1", 1) // "u1" is a prefix of "u10"
	MustAdvanceCursor(t, s, "u2", "", "r1", 2)
	want := []tripsense.Cursor{{UserID: "u1", Room: "r1", LastSeen: 6}, {UserID: "u1", Room: "r10", LastSeen: 2}, {UserID: "u1", Room: "r2", LastSeen: 3}}
	got := MustCursors(t, s, "u1", "")
	if len(got) != len(want) {
		t.Fatalf("Cursors(u1) = %+v, want %+v (sorted by room)", got, want)
	}
	for i := range want {
		if got[i].UserID != want[i].UserID || got[i].Room != want[i].Room || got[i].LastSeen != want[i].LastSeen || got[i].UpdatedAt.IsZero() {
			t.Fatalf("Cursors(u1)[%d] = %+v, want %+v with UpdatedAt set", i, got[i], want[i])
		}
		if one := MustCursor(t, s, "u1", "", want[i].Room); one.LastSeen != got[i].LastSeen || one.UpdatedAt.UnixMilli() != got[i].UpdatedAt.UnixMilli() {
			t.Errorf("Cursor(u1, %s) = %+v, Cursors listed %+v", want[i].Room, one, got[i])
		}
	}
	if cs := MustCursors(t, s, "u2", ""); len(cs) != 1 || cs[0].Room != "r1" || cs[0].LastSeen != 2 {
		t.Fatalf("Cursors(u2) = %+v, want [r1:2]", cs)
	}
}

// testDeviceCursors: each (user, device, room) has its own cursor. The
// default device (tripsense.DefaultDevice) is one device among others;
// device ids that share a prefix, and users whose ids share a prefix,
// never see each other's cursors.
func testDeviceCursors(t *testing.T, h *harness) {
	s, _ := h.open(t)
	MustAppendN(t, s, "r", "u9", 10)
	MustAppendN(t, s, "r2", "u9", 10)
	const def = tripsense.DefaultDevice
	MustAdvanceCursor(t, s, "u1", "phone", "r", 7)
	MustAdvanceCursor(t, s, "u1", "ph", "r", 5)
	MustAdvanceCursor(t, s, "u1", "tablet", "r", 2)
	MustAdvanceCursor(t, s, "u1", def, "r", 4)
	MustAdvanceCursor(t, s, "u1", "phone", "r2", 9)
	MustAdvanceCursor(t, s, "u10", "phone", "r", 1) // "u1" is a prefix of "u10"
	for _, tc := range []struct {
		device, room string
		want         int64
	}{{"phone", "r", 7}, {"ph", "r", 5}, {"tablet", "r", 2}, {def, "r", 4}, {"phone", "r2", 9}, {def, "r2", 0}, {"tablet", "r2", 0}, {"laptop", "r", 0}} {
		c := MustCursor(t, s, "u1", tc.device, tc.room)
		if c.LastSeen != tc.want || c.UserID != "u1" || c.DeviceID != tc.device || c.Room != tc.room {
			t.Errorf("Cursor(u1, %q, %s) = %+v, want LastSeen %d", tc.device, tc.room, c, tc.want)
		}
	}
	// Never backwards, per device; moving one device moves no other.
	if c := MustAdvanceCursor(t, s, "u1", "tablet", "r", 1); c.LastSeen != 2 || c.DeviceID != "tablet" {
		t.Errorf("AdvanceCursor(tablet, 1) = %+v, want 2", c)
	}
	if c := MustAdvanceCursor(t, s, "u1", "tablet", "r", 100); c.LastSeen != 10 {
		t.Errorf("AdvanceCursor(tablet, 100) = %+v, want 10 (the head)", c)
	}
	if c := MustCursor(t, s, "u1", "phone", "r"); c.LastSeen != 7 {
		t.Errorf("phone's cursor after the tablet's advance = %d, want 7", c.LastSeen)
	}
	if c := MustCursor(t, s, "u1", def, "r"); c.LastSeen != 4 {
		t.Errorf("default device's cursor after the tablet's advance = %d, want 4", c.LastSeen)
	}
	for _, tc := range []struct {
		user, device string
		want         map[string]int64
	}{
		{"u1", "phone", map[string]int64{"r": 7, "r2": 9}},
		{"u1", "ph", map[string]int64{"r": 5}},
		{"u1", "tablet", map[string]int64{"r": 10}},
		{"u1", def, map[string]int64{"r": 4}},
		{"u1", "laptop", map[string]int64{}},
		{"u10", "phone", map[string]int64{"r": 1}},
		{"u10", def, map[string]int64{}},
	} {
		cs := MustCursors(t, s, tc.user, tc.device)
		got := map[string]int64{}
		for i, c := range cs {
			if c.UserID != tc.user || c.DeviceID != tc.device || c.UpdatedAt.IsZero() {
				t.Errorf("Cursors(%s, %q)[%d] = %+v: wrong owner or no UpdatedAt", tc.user, tc.device, i, c)
			}
			if i > 0 && cs[i-1].Room >= c.Room {
				t.Errorf("Cursors(%s, %q) not sorted by room: %+v", tc.user, tc.device, cs)
			}
			got[c.Room] = c.LastSeen
		}
		if len(got) != len(tc.want) {
			t.Errorf("Cursors(%s, %q) = %v, want %v", tc.user, tc.device, got, tc.want)
			continue
		}
		for r, v := range tc.want {
			if got[r] != v {
				t.Errorf("Cursors(%s, %q) = %v, want %v", tc.user, tc.device, got, tc.want)
			}
		}
	}
}

// testDeviceCursorsConcurrent: concurrent advances of two devices of one
// user in one room each end at their own maximum.
func testDeviceCursorsConcurrent(t *testing.T, h *harness) {
	s, _ := h.open(t)
	const head = 40
	MustAppendN(t, s, "r", "u2", head)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for v := int64(1); v <= 20; v++ {
		for _, d := range []struct {
			device string
			value  int64
		}{{"phone", v}, {"tablet", 2 * v}} {
			wg.Go(func() {
				<-start
				if _, err := s.AdvanceCursor(context.Background(), "u1", d.device, "r", d.value); err != nil {
					t.Errorf("AdvanceCursor(%s, %d): %v", d.device, d.value, err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if c := MustCursor(t, s, "u1", "phone", "r"); c.LastSeen != 20 {
		t.Errorf("phone after concurrent advances = %d, want 20", c.LastSeen)
	}
	if c := MustCursor(t, s, "u1", "tablet", "r"); c.LastSeen != 40 {
		t.Errorf("tablet after concurrent advances = %d, want 40", c.LastSeen)
	}
	if c := MustCursor(t, s, "u1", tripsense.DefaultDevice, "r"); c.LastSeen != 0 {
		t.Errorf("default device = %d, want 0 (never advanced)", c.LastSeen)
	}
}

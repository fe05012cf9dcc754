package storetest

import (
	"fmt"
	"testing"

	"github.com/tripsense/tripsense"
)

func testReopen(t *testing.T, h *harness) {
	if !h.opts.Reopen {
		t.Skip("RunOptions.Reopen is false: the store cannot be closed and reopened")
	}
	s, opener := h.open(t)
	var sent []tripsense.Message
	for i := range 20 {
		room := []string{"r1", "r2"}[i%2]
		sent = append(sent, MustAppendNew(t, s, newMsg(room, "u1", fmt.Sprintf("c-%d", i), fmt.Sprintf("body %d", i))))
	}
	MustAddMember(t, s, "r1", "u1")
	MustAddMember(t, s, "r2", "u1")
	MustAddMember(t, s, "r1", "u2")
	MustAdvanceCursor(t, s, "u1", "", "r1", 7)
	MustAdvanceCursor(t, s, "u2", "", "r1", 3)
	MustAdvanceCursor(t, s, "u2", "tablet", "r1", 5)
	MustAdvanceReadCursor(t, s, "u2", "r1", 5)
	s.close(t)

	for round := range 2 {
		s = h.reopen(t, opener)
		for _, room := range []string{"r1", "r2"} {
			var want []tripsense.Message
			for _, m := range sent {
				if m.Room == room {
					want = append(want, m)
				}
			}
			checkAllStored(t, s, room, want)
		}
		checkStrings(t, "Rooms(u1) after reopen", MustRooms(t, s, "u1"), []string{"r1", "r2"})
		checkStrings(t, "Members(r1) after reopen", MustMembers(t, s, "r1"), []string{"u1", "u2"})
		if c := MustCursor(t, s, "u1", "", "r1"); c.LastSeen != 7 || c.UpdatedAt.IsZero() {
			t.Errorf("Cursor(u1, r1) after reopen = %+v, want 7", c)
		}
		if cs := MustCursors(t, s, "u2", ""); len(cs) != 1 || cs[0].LastSeen != 3 {
			t.Errorf("Cursors(u2) after reopen = %+v, want [r1:3]", cs)
		}
		if cs := MustCursors(t, s, "u2", "tablet"); len(cs) != 1 || cs[0].LastSeen != 5 || cs[0].DeviceID != "tablet" {
			t.Errorf("Cursors(u2, tablet) after reopen = %+v, want [r1:5]", cs)
		}
		if c := MustReadCursor(t, s, "u2", "r1"); c.LastRead != 5 || c.UpdatedAt.IsZero() {
			t.Errorf("ReadCursor(u2, r1) after reopen = %+v, want 5", c)
		}
		if rs := MustReceipts(t, s, "r1"); len(rs) != 1 || rs[0].UserID != "u2" || rs[0].LastRead != 5 {
			t.Errorf("Receipts(r1) after reopen = %+v, want [u2:5]", rs)
		}
		// A retry of a message sent before the restart is still a duplicate.
		retry, dup := MustAppend(t, s, newMsg("r1", "u1", "c-0", "retry"))
		if !dup || !SameMessage(retry, sent[0]) {
			t.Errorf("retry after reopen = %+v dup=%v, want %+v", retry, dup, sent[0])
		}
		// The next message continues the sequence.
		next := MustAppendNew(t, s, newMsg("r1", "u3", fmt.Sprintf("after-reopen-%d", round), "next"))
		if want := int64(11 + round); next.Index != want {
			t.Errorf("first Append after reopen %d got index %d, want %d", round, next.Index, want)
		}
		sent = append(sent, next)
		s.close(t)
	}
}

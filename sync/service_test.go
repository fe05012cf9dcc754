package catchup_test

import (
	"context"
	"testing"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

func TestRooms(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5, "uuidroom2": 3})
	MustAdvance(t, st, "uuid1", "uuidroom1", 2) // delivered: does not count as read
	if _, _, err := st.AdvanceReadCursor(context.Background(), "uuid1", "uuidroom1", 4); err != nil {
		t.Fatal(err)
	}
	MustAdvance(t, st, "uuid1", "uuidroom2", 3)
	svc := &catchup.Service{Store: st}
	tests := []struct {
		user string
		want []catchup.RoomSummary
		code string
	}{
		{user: "uuid1", want: []catchup.RoomSummary{{"uuidroom1", 5, 4, 1}, {"uuidroom2", 3, 0, 3}}},
		{user: "uuid2", want: []catchup.RoomSummary{{"uuidroom2", 3, 0, 3}, {"uuidroom3", 0, 0, 0}}},
		{user: "stranger", want: []catchup.RoomSummary{}},
		{user: "", code: tripsense.EINVALID},
	}
	for _, tt := range tests {
		got, err := svc.Rooms(context.Background(), tt.user)
		wantCode(t, err, tt.code)
		if len(got) != len(tt.want) {
			t.Fatalf("%s: got %+v, want %+v", tt.user, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("%s: got %+v, want %+v", tt.user, got, tt.want)
			}
		}
	}
}

func TestMarkRead(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5})
	svc := &catchup.Service{Store: st}
	steps := []struct {
		name  string
		user  string
		room  string
		index int64
		want  int64
		code  string
	}{
		{name: "forward", user: "uuid1", room: "uuidroom1", index: 3, want: 3},
		{name: "never backwards", user: "uuid1", room: "uuidroom1", index: 1, want: 3},
		{name: "same", user: "uuid1", room: "uuidroom1", index: 3, want: 3},
		{name: "clamped to head", user: "uuid1", room: "uuidroom1", index: 99, want: 5},
		{name: "empty room stays 0", user: "uuid2", room: "uuidroom3", index: 7, want: 0},
		{name: "negative", user: "uuid1", room: "uuidroom1", index: -1, code: tripsense.EINVALID},
		{name: "bad room", user: "uuid1", room: "", index: 1, code: tripsense.EINVALID},
		{name: "non-member", user: "uuid1", room: "uuidroom3", index: 1, code: tripsense.ENOTMEMBER},
		{name: "non-member of missing room", user: "uuid1", room: "nosuchroom", index: 1, code: tripsense.ENOTMEMBER},
	}
	for _, s := range steps { // sequential: each step builds on the last
		c, _, err := svc.MarkRead(context.Background(), s.user, s.room, s.index)
		wantCode(t, err, s.code)
		if s.code != "" {
			continue
		}
		if c.LastRead != s.want || c.Room != s.room || c.UserID != s.user {
			t.Fatalf("%s: got %+v, want lastRead %d", s.name, c, s.want)
		}
	}
	c, err := st.ReadCursor(context.Background(), "uuid1", "uuidroom3")
	if err != nil || c.LastRead != 0 || !c.UpdatedAt.IsZero() {
		t.Fatalf("non-member read cursor was written: %+v %v", c, err)
	}
	// Reading never moves the delivered cursor (catch-up's).
	if d, err := st.Cursor(context.Background(), "uuid1", tripsense.DefaultDevice, "uuidroom1"); err != nil || d.LastSeen != 0 {
		t.Fatalf("delivered cursor after MarkRead = %+v %v, want 0", d, err)
	}
}

func TestMarkReadStoreError(t *testing.T) {
	t.Parallel()
	f := &faulty{Store: MustStore(t, nil), advance: func() error { return errBoom }}
	_, _, err := (&catchup.Service{Store: f}).MarkRead(context.Background(), "uuid1", "uuidroom1", 1)
	wantCode(t, err, tripsense.EINTERNAL)
}

// TestReceipts: members see the read cursors of the room's current members
// (a removed member's stays stored but is not shown); others get
// not_member.
func TestReceipts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := MustStore(t, map[string]int{"uuidroom2": 6})
	if err := st.AddMember(ctx, "uuidroom2", "uuid3"); err != nil {
		t.Fatal(err)
	}
	svc := &catchup.Service{Store: st}
	for user, n := range map[string]int64{"uuid1": 4, "uuid2": 6, "uuid3": 2} {
		if _, _, err := svc.MarkRead(ctx, user, "uuidroom2", n); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RemoveMember(ctx, "uuidroom2", "uuid3"); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Receipts(ctx, "uuid1", "uuidroom2")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].UserID != "uuid1" || got[0].LastRead != 4 || got[1].UserID != "uuid2" || got[1].LastRead != 6 || got[0].UpdatedAt.IsZero() {
		t.Fatalf("receipts %+v, want uuid1:4 uuid2:6", got)
	}
	_, err = svc.Receipts(ctx, "uuid3", "uuidroom2")
	wantCode(t, err, tripsense.ENOTMEMBER)
	_, err = svc.Receipts(ctx, "uuid1", "bad room")
	wantCode(t, err, tripsense.EINVALID)
}

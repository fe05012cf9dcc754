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
	MustAdvance(t, st, "uuid1", "uuidroom1", 4)
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
		c, err := svc.MarkRead(context.Background(), s.user, s.room, s.index)
		wantCode(t, err, s.code)
		if s.code != "" {
			continue
		}
		if c.LastSeen != s.want || c.Room != s.room || c.UserID != s.user {
			t.Fatalf("%s: got %+v, want lastSeen %d", s.name, c, s.want)
		}
	}
	c, err := st.Cursor(context.Background(), "uuid1", "", "uuidroom3")
	if err != nil || c.LastSeen != 0 || !c.UpdatedAt.IsZero() {
		t.Fatalf("non-member cursor was written: %+v %v", c, err)
	}
}

func TestMarkReadStoreError(t *testing.T) {
	t.Parallel()
	f := &faulty{Store: MustStore(t, nil), advance: func() error { return errBoom }}
	_, err := (&catchup.Service{Store: f}).MarkRead(context.Background(), "uuid1", "uuidroom1", 1)
	wantCode(t, err, tripsense.EINTERNAL)
}

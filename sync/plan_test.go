package catchup_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5, "uuidroom2": 3})
	MustAdvance(t, st, "uuid1", "uuidroom2", 2)
	plan, err := (&catchup.Service{Store: st}).Plan(context.Background(), "uuid1", map[string]int64{"uuidroom1": 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []catchup.Range{{Room: "uuidroom1", LastSeen: 1, Head: 5}, {Room: "uuidroom2", LastSeen: 2, Head: 3}}
	if len(plan) != 2 || plan[0] != want[0] || plan[1] != want[1] {
		t.Fatalf("plan %+v, want %+v", plan, want)
	}
	if plan[0].Unread() != 4 {
		t.Fatalf("unread %d", plan[0].Unread())
	}
	big := make(map[string]int64, catchup.MaxCursors+1)
	for i := range catchup.MaxCursors + 1 {
		big[fmt.Sprintf("room%d", i)] = 0
	}
	_, err = (&catchup.Service{Store: st}).Plan(context.Background(), "uuid1", big)
	wantCode(t, err, tripsense.EINVALID)
}

// TestPlanStaleRoomFailsAlone: a client cursor for a room the user is not
// (or no longer) in gives that room an ENOTMEMBER entry, in room order, and
// the other rooms are planned as usual.
func TestPlanStaleRoomFailsAlone(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5, "uuidroom2": 3, "uuidroom3": 2})
	plan, err := (&catchup.Service{Store: st}).Plan(context.Background(), "uuid1",
		map[string]int64{"uuidroom1": 1, "uuidroom3": 0, "gone": 4})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range plan {
		got = append(got, fmt.Sprintf("%s:%d:%d:%s", r.Room, r.LastSeen, r.Head, tripsense.ErrorCode(r.Err)))
	}
	want := []string{"gone:0:0:not_member", "uuidroom1:1:5:", "uuidroom2:0:3:", "uuidroom3:0:0:not_member"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	if m := tripsense.ErrorMessage(plan[3].Err); m != "not a member of room uuidroom3" {
		t.Fatalf("message %q", m)
	}
}

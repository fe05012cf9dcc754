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
	plan, err := (&catchup.Service{Store: st}).Plan(context.Background(), "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom1": 1})
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
	_, err = (&catchup.Service{Store: st}).Plan(context.Background(), "uuid1", tripsense.DefaultDevice, big)
	wantCode(t, err, tripsense.EINVALID)
}

// TestPlanUsesTheDevicesCursor: without client cursors each device starts
// from its own stored cursor; a client cursor still wins; a bad device id
// is refused.
func TestPlanUsesTheDevicesCursor(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5, "uuidroom2": 6})
	ctx := context.Background()
	for _, c := range []struct {
		device, room string
		last         int64
	}{{"phone", "uuidroom2", 6}, {"tablet", "uuidroom2", 2}, {tripsense.DefaultDevice, "uuidroom2", 4}, {"tablet", "uuidroom1", 1}} {
		if _, err := st.AdvanceCursor(ctx, "uuid1", c.device, c.room, c.last); err != nil {
			t.Fatal(err)
		}
	}
	svc := &catchup.Service{Store: st}
	for _, tc := range []struct {
		device  string
		cursors map[string]int64
		want    []catchup.Range
	}{
		{"phone", nil, []catchup.Range{{Room: "uuidroom1", LastSeen: 0, Head: 5}, {Room: "uuidroom2", LastSeen: 6, Head: 6}}},
		{"tablet", nil, []catchup.Range{{Room: "uuidroom1", LastSeen: 1, Head: 5}, {Room: "uuidroom2", LastSeen: 2, Head: 6}}},
		{tripsense.DefaultDevice, nil, []catchup.Range{{Room: "uuidroom1", LastSeen: 0, Head: 5}, {Room: "uuidroom2", LastSeen: 4, Head: 6}}},
		{"laptop", nil, []catchup.Range{{Room: "uuidroom1", LastSeen: 0, Head: 5}, {Room: "uuidroom2", LastSeen: 0, Head: 6}}},
		{"tablet", map[string]int64{"uuidroom2": 5}, []catchup.Range{{Room: "uuidroom1", LastSeen: 1, Head: 5}, {Room: "uuidroom2", LastSeen: 5, Head: 6}}},
	} {
		plan, err := svc.Plan(ctx, "uuid1", tc.device, tc.cursors)
		if err != nil {
			t.Fatalf("%q: %v", tc.device, err)
		}
		if len(plan) != len(tc.want) || plan[0] != tc.want[0] || plan[1] != tc.want[1] {
			t.Errorf("Plan(%q, %v) = %+v, want %+v", tc.device, tc.cursors, plan, tc.want)
		}
	}
	for _, bad := range []string{"bad device", "a#b", string(make([]byte, tripsense.MaxIDLen+1))} {
		_, err := svc.Plan(ctx, "uuid1", bad, nil)
		wantCode(t, err, tripsense.EINVALID)
	}
}

// TestPlanStaleRoomFailsAlone: a client cursor for a room the user is not
// (or no longer) in gives that room an ENOTMEMBER entry, in room order, and
// the other rooms are planned as usual.
func TestPlanStaleRoomFailsAlone(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5, "uuidroom2": 3, "uuidroom3": 2})
	plan, err := (&catchup.Service{Store: st}).Plan(context.Background(), "uuid1", tripsense.DefaultDevice,
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

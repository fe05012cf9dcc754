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
	want := []catchup.Range{{"uuidroom1", 1, 5}, {"uuidroom2", 2, 3}}
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

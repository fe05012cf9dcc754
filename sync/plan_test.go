package catchup_test

import (
	"context"
	"errors"
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

func TestPages(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 2500, "uuidroom2": 3})
	MustAdvance(t, st, "uuid1", "uuidroom2", 3)
	svc := &catchup.Service{Store: st}
	for _, size := range []int{0, 1000, 7} {
		got := map[string][]int64{}
		var order []string
		plan, err := svc.Pages(context.Background(), "uuid1", map[string]int64{"uuidroom1": 10}, size,
			func(rg catchup.Range, msgs []tripsense.Message) error {
				limit := size
				if limit == 0 {
					limit = tripsense.DefaultPageLimit
				}
				if len(msgs) == 0 || len(msgs) > limit {
					t.Fatalf("page of %d messages with size %d", len(msgs), size)
				}
				if len(order) == 0 || order[len(order)-1] != rg.Room {
					order = append(order, rg.Room)
				}
				got[rg.Room] = append(got[rg.Room], indexes(msgs)...)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan) != 2 || plan[0] != (catchup.Range{"uuidroom1", 10, 2500}) || plan[1] != (catchup.Range{"uuidroom2", 3, 3}) {
			t.Fatalf("plan %+v", plan)
		}
		if len(order) != 1 || order[0] != "uuidroom1" {
			t.Fatalf("rooms streamed: %v", order)
		}
		if !equal(got["uuidroom1"], span(11, 2500)) {
			t.Fatalf("size %d: %d indexes, not exactly 11..2500", size, len(got["uuidroom1"]))
		}
	}
}

func TestPagesErrors(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5})
	stop := errors.New("client went away")
	tests := []struct {
		name  string
		store catchup.Store
		size  int
		cur   map[string]int64
		fn    func(catchup.Range, []tripsense.Message) error
		want  error
		code  string
	}{
		{name: "fn error is returned as is", store: st, fn: func(catchup.Range, []tripsense.Message) error { return stop }, want: stop},
		{name: "bad page size", store: st, size: -1, code: tripsense.EINVALID},
		{name: "non-member cursor", store: st, cur: map[string]int64{"uuidroom3": 0}, code: tripsense.ENOTMEMBER},
		{name: "store makes no progress", code: tripsense.EINTERNAL, store: &faulty{Store: st,
			after: func(string, int64, int) ([]tripsense.Message, error) { return nil, nil }}},
		{name: "store goes backwards", code: tripsense.EINTERNAL, cur: map[string]int64{"uuidroom1": 2}, store: &faulty{Store: st,
			after: func(string, int64, int) ([]tripsense.Message, error) { return []tripsense.Message{{Index: 1}}, nil }}},
		{name: "store fails", code: tripsense.EINTERNAL, store: &faulty{Store: st,
			after: func(string, int64, int) ([]tripsense.Message, error) { return nil, errBoom }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := tt.fn
			if fn == nil {
				fn = func(catchup.Range, []tripsense.Message) error { return nil }
			}
			_, err := (&catchup.Service{Store: tt.store}).Pages(context.Background(), "uuid1", tt.cur, tt.size, fn)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			wantCode(t, err, tt.code)
		})
	}
}

package catchup_test

import (
	"context"
	"testing"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		user, room    string
		after, before int64
		limit         int
		msgs          []int64
		hasMore       bool
		next          int64
		code          string
	}{
		{name: "from the start", user: "uuid1", room: "uuidroom1", msgs: span(1, 10)},
		{name: "ascending page", user: "uuid1", room: "uuidroom1", after: 2, limit: 3, msgs: span(3, 5), hasMore: true, next: 5},
		{name: "ascending last page", user: "uuid1", room: "uuidroom1", after: 7, limit: 3, msgs: span(8, 10)},
		{name: "after head", user: "uuid1", room: "uuidroom1", after: 10, msgs: span(1, 0)},
		{name: "after past head", user: "uuid1", room: "uuidroom1", after: 50, msgs: span(1, 0)},
		{name: "older page", user: "uuid1", room: "uuidroom1", before: 9, limit: 3, msgs: span(6, 8), hasMore: true, next: 6},
		{name: "oldest page", user: "uuid1", room: "uuidroom1", before: 4, limit: 3, msgs: span(1, 3)},
		{name: "oldest page not full", user: "uuid1", room: "uuidroom1", before: 3, limit: 3, msgs: span(1, 2)},
		{name: "before past head is the newest page", user: "uuid1", room: "uuidroom1", before: 1 << 62, limit: 4, msgs: span(7, 10), hasMore: true, next: 7},
		{name: "before 1", user: "uuid1", room: "uuidroom1", before: 1, msgs: span(1, 0)},
		{name: "empty room", user: "uuid2", room: "uuidroom3", msgs: span(1, 0)},
		{name: "empty room older page", user: "uuid2", room: "uuidroom3", before: 5, msgs: span(1, 0)},
		{name: "non-member of existing room", user: "uuid1", room: "uuidroom3", code: tripsense.ENOTMEMBER},
		{name: "non-member of missing room", user: "uuid1", room: "nosuchroom", code: tripsense.ENOTMEMBER},
		{name: "bad room", user: "uuid1", room: "a/b", code: tripsense.EINVALID},
		{name: "bad user", user: "a b", room: "uuidroom1", code: tripsense.EINVALID},
		{name: "negative after", user: "uuid1", room: "uuidroom1", after: -1, code: tripsense.EINVALID},
		{name: "negative before", user: "uuid1", room: "uuidroom1", before: -1, code: tripsense.EINVALID},
		{name: "after and before", user: "uuid1", room: "uuidroom1", after: 1, before: 5, code: tripsense.EINVALID},
		{name: "limit over max", user: "uuid1", room: "uuidroom1", limit: 1001, code: tripsense.EINVALID},
	}
	st := MustStore(t, map[string]int{"uuidroom1": 10})
	svc := &catchup.Service{Store: st}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := svc.History(context.Background(), tt.user, tt.room, tt.after, tt.before, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				if p.Head != 0 || p.Messages != nil {
					t.Fatalf("error with data: %+v", p)
				}
				return
			}
			if p.Room != tt.room || !equal(indexes(p.Messages), tt.msgs) || p.HasMore != tt.hasMore || p.Next != tt.next {
				t.Fatalf("got room %s msgs %v hasMore %v next %d, want %v %v %d",
					p.Room, indexes(p.Messages), p.HasMore, p.Next, tt.msgs, tt.hasMore, tt.next)
			}
		})
	}
}

func TestHistoryNonMemberLearnsNothing(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom3": 4})
	svc := &catchup.Service{Store: st}
	_, a := svc.History(context.Background(), "uuid1", "uuidroom3", 0, 0, 0)
	_, b := svc.History(context.Background(), "uuid1", "uuidroom9", 0, 0, 0)
	if tripsense.ErrorCode(a) != tripsense.ENOTMEMBER || a.Error() != b.Error() {
		t.Fatalf("existing room: %v; missing room: %v", a, b)
	}
}

// TestHistoryPagesBothWays walks 2,500 messages forwards with after=next
// and backwards with before=next; each must yield every index once.
func TestHistoryPagesBothWays(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom2": 2500})
	svc := &catchup.Service{Store: st}
	ctx := context.Background()
	for _, limit := range []int{1000, 333} {
		var fwd []int64
		p := catchup.HistoryPage{HasMore: true}
		for p.HasMore {
			var err error
			if p, err = svc.History(ctx, "uuid2", "uuidroom2", p.Next, 0, limit); err != nil {
				t.Fatal(err)
			}
			fwd = append(fwd, indexes(p.Messages)...)
		}
		if !equal(fwd, span(1, 2500)) {
			t.Fatalf("limit %d forwards: %d indexes, not exactly 1..2500", limit, len(fwd))
		}
		var back []int64
		before := int64(1 << 62)
		for {
			p, err := svc.History(ctx, "uuid2", "uuidroom2", 0, before, limit)
			if err != nil {
				t.Fatal(err)
			}
			back = append(indexes(p.Messages), back...)
			if !p.HasMore {
				break
			}
			before = p.Next
		}
		if !equal(back, span(1, 2500)) {
			t.Fatalf("limit %d backwards: %d indexes, not exactly 1..2500", limit, len(back))
		}
	}
}

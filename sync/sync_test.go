package catchup_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

func TestSync(t *testing.T) {
	t.Parallel()
	type want struct {
		room                             string
		lastSeen, head, unread, from, to int64
		msgs                             []int64
		complete                         bool
		next                             int64
	}
	tests := []struct {
		name    string
		user    string
		stored  map[string]int64 // uuid1's stored cursors
		cursors map[string]int64
		limit   int
		want    []want
		code    string
	}{
		{name: "stored cursors", user: "uuid1", stored: map[string]int64{"uuidroom1": 2},
			want: []want{
				{"uuidroom1", 2, 5, 3, 3, 5, span(3, 5), true, 0},
				{"uuidroom2", 0, 3, 3, 1, 3, span(1, 3), true, 0},
			}},
		{name: "client cursor wins when lower", user: "uuid1", stored: map[string]int64{"uuidroom1": 4},
			cursors: map[string]int64{"uuidroom1": 1},
			want: []want{
				{"uuidroom1", 1, 5, 4, 2, 5, span(2, 5), true, 0},
				{"uuidroom2", 0, 3, 3, 1, 3, span(1, 3), true, 0},
			}},
		{name: "client cursor wins when higher", user: "uuid1", stored: map[string]int64{"uuidroom1": 1, "uuidroom2": 1},
			cursors: map[string]int64{"uuidroom1": 4},
			want: []want{
				{"uuidroom1", 4, 5, 1, 5, 5, span(5, 5), true, 0},
				{"uuidroom2", 1, 3, 2, 2, 3, span(2, 3), true, 0},
			}},
		{name: "client cursor clamped to head", user: "uuid1",
			cursors: map[string]int64{"uuidroom1": 99, "uuidroom2": 3},
			want: []want{
				{"uuidroom1", 5, 5, 0, 6, 5, span(6, 5), true, 0},
				{"uuidroom2", 3, 3, 0, 4, 3, span(4, 3), true, 0},
			}},
		{name: "first page only", user: "uuid1", limit: 2, cursors: map[string]int64{"uuidroom1": 0, "uuidroom2": 1},
			want: []want{
				{"uuidroom1", 0, 5, 5, 1, 2, span(1, 2), false, 2},
				{"uuidroom2", 1, 3, 2, 2, 3, span(2, 3), true, 0},
			}},
		{name: "empty room", user: "uuid2", limit: tripsense.MaxPageLimit,
			want: []want{
				{"uuidroom2", 0, 3, 3, 1, 3, span(1, 3), true, 0},
				{"uuidroom3", 0, 0, 0, 1, 0, span(1, 0), true, 0},
			}},
		{name: "no rooms", user: "nobody", want: []want{}},
		{name: "negative cursor", user: "uuid1", cursors: map[string]int64{"uuidroom1": -1}, code: tripsense.EINVALID},
		{name: "bad room id", user: "uuid1", cursors: map[string]int64{"bad room": 1}, code: tripsense.EINVALID},
		{name: "bad user id", user: "", code: tripsense.EINVALID},
		{name: "negative limit", user: "uuid1", limit: -1, code: tripsense.EINVALID},
		{name: "limit over max", user: "uuid1", limit: tripsense.MaxPageLimit + 1, code: tripsense.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := MustStore(t, map[string]int{"uuidroom1": 5, "uuidroom2": 3})
			for room, last := range tt.stored {
				MustAdvance(t, st, "uuid1", room, last)
			}
			svc := &catchup.Service{Store: st}
			got, err := svc.Sync(context.Background(), tt.user, tripsense.DefaultDevice, tt.cursors, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d rooms, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Room != w.room || g.LastSeen != w.lastSeen || g.Head != w.head || g.Unread != w.unread ||
					g.From != w.from || g.To != w.to || g.Complete != w.complete || g.Next != w.next ||
					!equal(indexes(g.Messages), w.msgs) {
					t.Errorf("room %d = {%s lastSeen=%d head=%d unread=%d from=%d to=%d msgs=%v complete=%v next=%d}, want %+v",
						i, g.Room, g.LastSeen, g.Head, g.Unread, g.From, g.To, indexes(g.Messages), g.Complete, g.Next, w)
				}
			}
		})
	}
}

// TestSyncNonMemberLearnsNothing: a room the client names but is not in
// (someone else's, or one that does not exist) fails alone, with
// not_member and nothing else about the room, while the user's rooms are
// answered.
func TestSyncNonMemberLearnsNothing(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 2, "uuidroom3": 7})
	svc := &catchup.Service{Store: st}
	got, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom3": 0, "uuidroom9": 0}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d rooms, want 4: %+v", len(got), got)
	}
	for i, w := range []struct{ room, code string }{{"uuidroom1", ""}, {"uuidroom2", ""}, {"uuidroom3", tripsense.ENOTMEMBER}, {"uuidroom9", tripsense.ENOTMEMBER}} {
		g := got[i]
		if g.Room != w.room || tripsense.ErrorCode(g.Err) != w.code {
			t.Fatalf("room %d = %s %v, want %s %q", i, g.Room, g.Err, w.room, w.code)
		}
		if w.code != "" && (g.Head != 0 || g.Messages != nil || g.Unread != 0) {
			t.Fatalf("non-member room %s shows %+v", g.Room, g)
		}
	}
	if len(got[0].Messages) != 2 || !got[0].Complete {
		t.Fatalf("uuidroom1 = %+v, want its 2 messages", got[0])
	}
	if a, b := tripsense.ErrorMessage(got[2].Err), tripsense.ErrorMessage(got[3].Err); a != "not a member of room uuidroom3" || b != "not a member of room uuidroom9" {
		t.Fatalf("messages %q and %q", a, b)
	}
	var b []byte
	b = got[2].AppendJSON(b)
	if want := `{"chatroomId":"uuidroom3","error":{"code":"not_member","message":"not a member of room uuidroom3"}}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
}

// TestSyncPagesToTheEnd follows next through 2,500 missed messages and
// checks that every index arrives exactly once, in order.
func TestSyncPagesToTheEnd(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 1, 7, 999, 1000} {
		st := MustStore(t, map[string]int{"uuidroom1": 2500})
		svc := &catchup.Service{Store: st}
		var got []int64
		cursor := int64(0)
		for calls := 0; ; calls++ {
			if calls > 2600 {
				t.Fatalf("limit %d: no end after %d calls", limit, calls)
			}
			rooms, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom1": cursor}, limit)
			if err != nil {
				t.Fatal(err)
			}
			r := rooms[0]
			if r.From != cursor+1 || r.To-r.From+1 != int64(len(r.Messages)) {
				t.Fatalf("limit %d: from %d to %d with %d messages after cursor %d", limit, r.From, r.To, len(r.Messages), cursor)
			}
			got = append(got, indexes(r.Messages)...)
			if r.Complete {
				break
			}
			cursor = r.Next
		}
		if !equal(got, span(1, 2500)) {
			t.Fatalf("limit %d: got %d indexes, not exactly 1..2500", limit, len(got))
		}
	}
}

// TestSyncDropsMessagesAboveHead simulates a send that lands between
// reading the head and reading the page.
func TestSyncDropsMessagesAboveHead(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5})
	f := &faulty{Store: st, head: func(string) (int64, error) { return 3, nil }}
	rooms, err := (&catchup.Service{Store: f}).Sync(context.Background(), "uuid1", tripsense.DefaultDevice, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := rooms[0]; r.Head != 3 || r.To != 3 || !r.Complete || !equal(indexes(r.Messages), span(1, 3)) {
		t.Fatalf("got %+v", r)
	}
}

func TestSyncStoreErrorsAreInternal(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5})
	tests := []struct {
		name string
		f    *faulty
	}{
		{"rooms", &faulty{Store: st, rooms: func(string) ([]string, error) { return nil, errBoom }}},
		{"head", &faulty{Store: st, head: func(string) (int64, error) { return 0, errBoom }}},
		{"messages", &faulty{Store: st, after: func(string, int64, int) ([]tripsense.Message, error) { return nil, errBoom }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&catchup.Service{Store: tt.f}).Sync(context.Background(), "uuid1", tripsense.DefaultDevice, nil, 0)
			wantCode(t, err, tripsense.EINTERNAL)
			if tripsense.ErrorMessage(err) != "internal error" {
				t.Fatalf("message leaks: %q", tripsense.ErrorMessage(err))
			}
		})
	}
}

// TestSyncBudget checks that one answer holds at most MaxSyncMessages and
// that the rooms past the budget say so and still page to the end.
func TestSyncBudget(t *testing.T) {
	t.Parallel()
	st := MustStore(t, nil)
	const rooms = catchup.MaxSyncMessages/tripsense.MaxPageLimit + 2
	for i := range rooms {
		room := fmt.Sprintf("busy%d", i)
		if err := st.AddMember(context.Background(), room, "uuid1"); err != nil {
			t.Fatal(err)
		}
		MustAppend(t, st, room, tripsense.MaxPageLimit+1)
	}
	svc := &catchup.Service{Store: st}
	cursors := map[string]int64{}
	got := map[string]int64{} // room -> messages received
	for calls := 0; ; calls++ {
		if calls > 10 {
			t.Fatal("no end")
		}
		res, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, cursors, tripsense.MaxPageLimit)
		if err != nil {
			t.Fatal(err)
		}
		total, done := 0, true
		for _, r := range res {
			total += len(r.Messages)
			got[r.Room] += int64(len(r.Messages))
			if r.From != r.LastSeen+1 || r.To != r.LastSeen+int64(len(r.Messages)) {
				t.Fatalf("room %s: from %d to %d lastSeen %d with %d messages", r.Room, r.From, r.To, r.LastSeen, len(r.Messages))
			}
			if !r.Complete {
				done = false
				if r.Next != r.To {
					t.Fatalf("room %s: next %d, to %d", r.Room, r.Next, r.To)
				}
			}
			cursors[r.Room] = r.To
		}
		if total > catchup.MaxSyncMessages {
			t.Fatalf("answer holds %d messages", total)
		}
		if calls == 0 && total != catchup.MaxSyncMessages {
			t.Fatalf("first answer holds %d messages, want the budget %d", total, catchup.MaxSyncMessages)
		}
		if done {
			break
		}
	}
	for i := range rooms {
		if n := got[fmt.Sprintf("busy%d", i)]; n != tripsense.MaxPageLimit+1 {
			t.Fatalf("busy%d: %d messages", i, n)
		}
	}
}

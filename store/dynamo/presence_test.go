package dynamo_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newPresence(t *testing.T, api dynamo.API, clk *clock) *dynamo.Presence {
	t.Helper()
	return dynamo.NewPresence(api, dynamo.Config{Tables: mustTables(t), Now: clk.Now})
}

func conn(id, user string, clk *clock) tripsense.Connection {
	now := clk.Now()
	return tripsense.Connection{ID: id, UserID: user, ConnectedAt: now, ExpiresAt: now.Add(tripsense.ConnectionTTL)}
}

func mustRegister(t *testing.T, p tripsense.Presence, c tripsense.Connection, rooms []string, baseline map[string]int64) {
	t.Helper()
	if err := p.Register(context.Background(), c, rooms, baseline); err != nil {
		t.Fatalf("Register(%s): %v", c.ID, err)
	}
}

func mustUnregister(t *testing.T, p tripsense.Presence, id string) (tripsense.Connection, map[string]int64) {
	t.Helper()
	c, marks, err := p.Unregister(context.Background(), id)
	if err != nil {
		t.Fatalf("Unregister(%s): %v", id, err)
	}
	return c, marks
}

func roomConns(t *testing.T, p tripsense.Presence, room string) []string {
	t.Helper()
	ms, err := p.RoomConnections(context.Background(), room)
	if err != nil {
		t.Fatalf("RoomConnections(%s): %v", room, err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ConnID+"/"+m.UserID)
	}
	slices.Sort(out)
	return out
}

func userConns(t *testing.T, p tripsense.Presence, user string) []string {
	t.Helper()
	cs, err := p.UserConnections(context.Background(), user)
	if err != nil {
		t.Fatalf("UserConnections(%s): %v", user, err)
	}
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func wantStrings(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestPresenceRegisterUnregister(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	c1 := conn("c1", "u1", clk)
	mustRegister(t, p, c1, []string{"r1", "r2"}, map[string]int64{"r1": 5, "other": 9})
	clk.Add(time.Minute)
	mustRegister(t, p, conn("c2", "u1", clk), []string{"r2"}, nil)
	mustRegister(t, p, conn("c3", "u2", clk), []string{"r1"}, nil)

	got, err := p.Get(ctx, "c1")
	if err != nil || got.ID != "c1" || got.UserID != "u1" || !got.ConnectedAt.Equal(c1.ConnectedAt) || !got.ExpiresAt.Equal(c1.ExpiresAt) {
		t.Fatalf("Get(c1) = %+v, %v; want %+v", got, err, c1)
	}
	wantStrings(t, "UserConnections(u1)", userConns(t, p, "u1"), "c1", "c2") // oldest first
	wantStrings(t, "RoomConnections(r1)", roomConns(t, p, "r1"), "c1/u1", "c3/u2")
	wantStrings(t, "RoomConnections(r2)", roomConns(t, p, "r2"), "c1/u1", "c2/u1")

	if err := p.Register(ctx, conn("c1", "u9", clk), nil, nil); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("second Register(c1): %v, want ECONFLICT", err)
	}

	gone, marks := mustUnregister(t, p, "c1")
	if gone.ID != "c1" || gone.UserID != "u1" {
		t.Fatalf("Unregister returned %+v", gone)
	}
	if want := map[string]int64{"r1": 5, "r2": 0}; !maps.Equal(marks, want) {
		t.Fatalf("watermarks = %v, want %v", marks, want)
	}
	if _, err := p.Get(ctx, "c1"); err != tripsense.ErrNotFound {
		t.Fatalf("Get after Unregister: %v, want ErrNotFound", err)
	}
	if _, _, err := p.Unregister(ctx, "c1"); err != tripsense.ErrNotFound {
		t.Fatalf("second Unregister: %v, want ErrNotFound", err)
	}
	wantStrings(t, "RoomConnections(r1) after", roomConns(t, p, "r1"), "c3/u2")
	wantStrings(t, "RoomConnections(r2) after", roomConns(t, p, "r2"), "c2/u1")
	wantStrings(t, "UserConnections(u1) after", userConns(t, p, "u1"), "c2")
}

// TestPresenceManyRooms registers a connection in more rooms than one
// BatchWriteItem takes.
func TestPresenceManyRooms(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	var rooms []string
	base := map[string]int64{}
	for i := range 60 {
		r := fmt.Sprintf("room-%02d", i)
		rooms = append(rooms, r)
		base[r] = int64(i)
	}
	mustRegister(t, p, conn("c1", "u1", clk), rooms, base)
	for _, r := range []string{"room-00", "room-24", "room-25", "room-59"} {
		wantStrings(t, "RoomConnections("+r+")", roomConns(t, p, r), "c1/u1")
	}
	_, marks := mustUnregister(t, p, "c1")
	if !maps.Equal(marks, base) {
		t.Fatalf("watermarks = %v, want %v", marks, base)
	}
	for _, r := range rooms {
		if got := roomConns(t, p, r); len(got) != 0 {
			t.Fatalf("RoomConnections(%s) after Unregister = %v", r, got)
		}
	}
}

// pagedAPI makes every Query return at most two items per page, so the
// paging code runs without megabytes of data.
type pagedAPI struct{ dynamo.API }

func (p pagedAPI) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	cp := *in
	if cp.Limit == nil || *cp.Limit > 2 {
		cp.Limit = aws.Int32(2)
	}
	return p.API.Query(ctx, &cp, o...)
}

func TestPresenceQueriesFollowPages(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := newPresence(t, pagedAPI{sharedClient()}, clk)
	var want, wantUser []string
	for i := range 9 {
		id := fmt.Sprintf("c%d", i)
		mustRegister(t, p, conn(id, "u1", clk), []string{"r"}, nil)
		clk.Add(time.Second)
		want = append(want, id+"/u1")
		wantUser = append(wantUser, id)
	}
	wantStrings(t, "RoomConnections(r)", roomConns(t, p, "r"), want...)
	wantStrings(t, "UserConnections(u1)", userConns(t, p, "u1"), wantUser...)
}

func TestPresenceJoinLeave(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	mustRegister(t, p, conn("c1", "u1", clk), []string{"r1"}, map[string]int64{"r1": 3})
	mustRegister(t, p, conn("c2", "u1", clk), []string{"r1"}, map[string]int64{"r1": 3})
	mustRegister(t, p, conn("c3", "u2", clk), []string{"r1"}, nil)

	if err := p.Join(ctx, "u1", "r2"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "RoomConnections(r2) after Join", roomConns(t, p, "r2"), "c1/u1", "c2/u1")
	if err := p.Join(ctx, "u1", "r2"); err != nil { // joining twice changes nothing
		t.Fatal(err)
	}
	if err := p.Delivered(ctx, "c1", "r2", 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx, "u1", "r2"); err != nil { // and keeps the watermark
		t.Fatal(err)
	}
	if err := p.Leave(ctx, "u1", "r1"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "RoomConnections(r1) after Leave", roomConns(t, p, "r1"), "c3/u2")
	// A left room's watermark is gone and deliveries to it are not recorded.
	if err := p.SeenThrough(ctx, "c2", "r1", 10); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx, "nobody", "r1"); err != nil {
		t.Fatalf("Join of a user without connections: %v", err)
	}
	_, marks := mustUnregister(t, p, "c1")
	if want := map[string]int64{"r2": 1}; !maps.Equal(marks, want) {
		t.Fatalf("c1 watermarks = %v, want %v", marks, want)
	}
	_, marks = mustUnregister(t, p, "c2")
	if want := map[string]int64{"r2": 0}; !maps.Equal(marks, want) {
		t.Fatalf("c2 watermarks = %v, want %v", marks, want)
	}
	wantStrings(t, "RoomConnections(r2) at the end", roomConns(t, p, "r2"))
}

func TestPresenceDeliveredContiguous(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	const room = "a.b:c@d-e_f" // every special character a room id may have
	mustRegister(t, p, conn("c1", "u1", clk), []string{room, "quiet"}, map[string]int64{room: 5})
	steps := []struct {
		op    string
		index int64
		want  int64
	}{
		{"delivered", 6, 6},
		{"delivered", 8, 6}, // out of order: not counted
		{"delivered", 7, 7},
		{"delivered", 8, 8},
		{"delivered", 8, 8}, // again
		{"delivered", 3, 8}, // old
		{"seen", 12, 12},    // the user sent 12
		{"seen", 10, 12},    // never backwards
		{"delivered", 13, 13},
		{"delivered", 0, 13},
	}
	for _, st := range steps {
		var err error
		if st.op == "delivered" {
			err = p.Delivered(ctx, "c1", room, st.index)
		} else {
			err = p.SeenThrough(ctx, "c1", room, st.index)
		}
		if err != nil {
			t.Fatalf("%s %d: %v", st.op, st.index, err)
		}
		if got := peekMark(t, p, "c1", room, clk); got != st.want {
			t.Fatalf("after %s %d: watermark %d, want %d", st.op, st.index, got, st.want)
		}
	}
	// Unknown connections and rooms the connection does not receive are ignored.
	for _, err := range []error{
		p.Delivered(ctx, "nope", room, 1), p.SeenThrough(ctx, "nope", room, 1),
		p.Delivered(ctx, "c1", "elsewhere", 1), p.SeenThrough(ctx, "c1", "elsewhere", 4),
	} {
		if err != nil {
			t.Fatalf("ignored update: %v", err)
		}
	}
	if _, err := p.Get(ctx, "nope"); err != tripsense.ErrNotFound {
		t.Fatalf("an ignored update created a connection: %v", err)
	}
	_, marks := mustUnregister(t, p, "c1")
	if want := map[string]int64{room: 13, "quiet": 0}; !maps.Equal(marks, want) {
		t.Fatalf("watermarks = %v, want %v", marks, want)
	}
}

// peekMark reads a watermark by unregistering and registering again with
// the returned watermarks as baseline.
func peekMark(t *testing.T, p tripsense.Presence, id, room string, clk *clock) int64 {
	t.Helper()
	c, marks := mustUnregister(t, p, id)
	mustRegister(t, p, c, slices.Collect(maps.Keys(marks)), marks)
	return marks[room]
}

// TestPresenceDeliveredConcurrent has several fan-out invocations report
// the same in-order deliveries at once: whatever the interleaving, each
// call finds the watermark at index-1 or already past it, so it ends at the
// last index.
func TestPresenceDeliveredConcurrent(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	mustRegister(t, p, conn("c1", "u1", clk), []string{"r"}, nil)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for i := int64(1); i <= 20; i++ {
				if err := p.Delivered(context.Background(), "c1", "r", i); err != nil {
					t.Errorf("Delivered(%d): %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if _, marks := mustUnregister(t, p, "c1"); marks["r"] != 20 {
		t.Fatalf("watermark = %d, want 20", marks["r"])
	}
}

func TestPresenceExpiredIgnored(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	short := conn("old", "u1", clk)
	short.ExpiresAt = clk.Now().Add(time.Hour)
	mustRegister(t, p, short, []string{"r"}, nil)
	mustRegister(t, p, conn("new", "u1", clk), []string{"r"}, nil)
	clk.Add(time.Hour + time.Second) // "old" expired; TTL has not deleted it (dynalite has no TTL)

	if _, err := p.Get(ctx, "old"); err != tripsense.ErrNotFound {
		t.Fatalf("Get(expired) = %v, want ErrNotFound", err)
	}
	wantStrings(t, "UserConnections(u1)", userConns(t, p, "u1"), "new")
	wantStrings(t, "RoomConnections(r)", roomConns(t, p, "r"), "new/u1")
	// Its id may be registered again; the stale item is replaced.
	mustRegister(t, p, conn("old", "u2", clk), []string{"r"}, nil)
	wantStrings(t, "RoomConnections(r) after re-register", roomConns(t, p, "r"), "new/u1", "old/u2")
	// Zero times are filled in: ConnectedAt now, ExpiresAt after ConnectionTTL.
	mustRegister(t, p, tripsense.Connection{ID: "zero", UserID: "u3"}, nil, nil)
	got, err := p.Get(ctx, "zero")
	if err != nil || !got.ConnectedAt.Equal(clk.Now()) || !got.ExpiresAt.Equal(clk.Now().Add(tripsense.ConnectionTTL)) {
		t.Fatalf("Get(zero) = %+v, %v", got, err)
	}
}

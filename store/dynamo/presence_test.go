package dynamo_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/dynamo/dynamotest"
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

// presenceTables remembers the tables of each Presence newPresence made.
var presenceTables sync.Map

func newPresence(t *testing.T, api dynamo.API, clk *clock) *dynamo.Presence {
	t.Helper()
	tables := mustTables(t)
	p := dynamo.NewPresence(api, dynamo.Config{Tables: tables, Now: clk.Now})
	presenceTables.Store(p, tables)
	return p
}

func conn(id, user string, clk *clock) tripsense.Connection {
	now := clk.Now()
	return tripsense.Connection{ID: id, UserID: user, ConnectedAt: now, ExpiresAt: now.Add(tripsense.ConnectionTTL)}
}

func mustRegister(t *testing.T, p tripsense.Presence, c tripsense.Connection, rooms []string, baseline map[string]int64) {
	t.Helper()
	if _, err := p.Register(context.Background(), c, rooms, baseline, nil); err != nil {
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

	if _, err := p.Register(ctx, conn("c1", "u9", clk), nil, nil, nil); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("second Register(c1): %v, want ECONFLICT", err)
	}

	if err := p.Delivered(ctx, "c1", "r2", 1); err != nil {
		t.Fatal(err)
	}
	gone, marks := mustUnregister(t, p, "c1")
	if gone.ID != "c1" || gone.UserID != "u1" {
		t.Fatalf("Unregister returned %+v", gone)
	}
	// r1 stayed at its baseline: no cursor to write, so it is left out.
	if want := map[string]int64{"r2": 1}; !maps.Equal(marks, want) {
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
	want := map[string]int64{}
	for r, b := range base {
		if err := p.Delivered(context.Background(), "c1", r, b+1); err != nil {
			t.Fatal(err)
		}
		want[r] = b + 1
	}
	_, marks := mustUnregister(t, p, "c1")
	if !maps.Equal(marks, want) {
		t.Fatalf("watermarks = %v, want %v", marks, want)
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
	_, marks = mustUnregister(t, p, "c2") // r2 never moved from 0
	if want := map[string]int64{}; !maps.Equal(marks, want) {
		t.Fatalf("c2 watermarks = %v, want %v", marks, want)
	}
	wantStrings(t, "RoomConnections(r2) at the end", roomConns(t, p, "r2"))
}

func TestPresenceDeliveredOutOfOrder(t *testing.T) {
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
		{"delivered", 8, 6}, // out of order: remembered
		{"delivered", 10, 6},
		{"delivered", 7, 8}, // fills the gap: advances through 8
		{"delivered", 8, 8}, // again
		{"delivered", 3, 8}, // old
		{"delivered", 9, 10},
		{"seen", 14, 14}, // the user sent 14
		{"seen", 12, 14}, // never backwards
		{"delivered", 16, 14},
		{"seen", 15, 16}, // marked read through 15: 16 was remembered
		{"delivered", 17, 17},
		{"delivered", 0, 17},
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
		if got := peekMark(t, p, "c1", room); got != st.want {
			t.Fatalf("after %s %d: watermark %d, want %d", st.op, st.index, got, st.want)
		}
	}
	// Deliveries up to 64 above the level are remembered; later ones are
	// not (forgetting only keeps the watermark lower).
	for i := int64(19); i <= 89; i++ { // the level is 17: 19..81 are in the window
		if err := p.Delivered(ctx, "c1", room, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Delivered(ctx, "c1", room, 18); err != nil {
		t.Fatal(err)
	}
	if got := peekMark(t, p, "c1", room); got != 81 {
		t.Fatalf("after the gap filler: watermark %d, want 81 (82..89 were outside the window)", got)
	}
	for i := int64(82); i <= 89; i++ {
		if err := p.Delivered(ctx, "c1", room, i); err != nil {
			t.Fatal(err)
		}
	}
	if got := peekMark(t, p, "c1", room); got != 89 {
		t.Fatalf("after redelivering them: watermark %d, want 89", got)
	}
	if err := p.SeenThrough(ctx, "c1", room, 500); err != nil { // marking read is not bounded by the window
		t.Fatal(err)
	}
	if got := peekMark(t, p, "c1", room); got != 500 {
		t.Fatalf("after SeenThrough(500): watermark %d", got)
	}
	// Unknown connections and rooms the connection does not receive are ignored.
	for _, err := range []error{
		p.Delivered(ctx, "nope", room, 1), p.SeenThrough(ctx, "nope", room, 1),
		p.Delivered(ctx, "c1", "elsewhere", 1), p.SeenThrough(ctx, "c1", "elsewhere", 4),
		p.Delivered(ctx, "c1", "elsewhere", 7),
	} {
		if err != nil {
			t.Fatalf("ignored update: %v", err)
		}
	}
	if _, err := p.Get(ctx, "nope"); err != tripsense.ErrNotFound {
		t.Fatalf("an ignored update created a connection: %v", err)
	}
	_, marks := mustUnregister(t, p, "c1")
	if want := map[string]int64{room: 500}; !maps.Equal(marks, want) {
		t.Fatalf("watermarks = %v, want %v (quiet never moved)", marks, want)
	}
}

// TestPresenceOutOfOrderDoesNotStall is the shape of fan-out on AWS, where
// Lambdas deliver a room's messages in any order: the watermark must keep
// up with every message that arrived, not stop at the first one that came
// early.
func TestPresenceOutOfOrderDoesNotStall(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	mustRegister(t, p, conn("c1", "u1", clk), []string{"r"}, nil)
	for _, i := range []int64{1, 3, 2, 4, 6, 5, 7, 8} {
		if err := p.Delivered(ctx, "c1", "r", i); err != nil {
			t.Fatal(err)
		}
	}
	if _, marks := mustUnregister(t, p, "c1"); marks["r"] != 8 {
		t.Fatalf("watermark = %d after 1..8 delivered out of order, want 8", marks["r"])
	}
}

// peekMark reads the level of a watermark item directly.
func peekMark(t *testing.T, p *dynamo.Presence, id, room string) int64 {
	t.Helper()
	tables, ok := presenceTables.Load(p)
	if !ok {
		t.Fatal("peekMark: presence not made by newPresence")
	}
	out, err := sharedClient().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(tables.(dynamo.Tables).Watermarks),
		Key:            map[string]types.AttributeValue{"connectionId": &types.AttributeValueMemberS{Value: id}, "room": &types.AttributeValueMemberS{Value: room}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		t.Fatalf("watermark item (%s, %s): %v, %v", id, room, out, err)
	}
	n, _ := strconv.ParseInt(out.Item["level"].(*types.AttributeValueMemberN).Value, 10, 64)
	return n
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

// TestPresenceWatermarkCallsWithConditionItems counts the calls of
// deliveries when a failed condition returns the item, as in AWS: a
// connection far behind (outside the reordering window) pays one call per
// delivery, an out-of-order delivery inside the window two.
func TestPresenceWatermarkCallsWithConditionItems(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	counter := &dynamo.CallCounter{}
	p := newPresence(t, dynamotest.ConditionItems{API: newClient(counter.AddToStack), Peek: sharedClient()}, clk)
	mustRegister(t, p, conn("c1", "u1", clk), []string{"r"}, map[string]int64{"r": 10})
	calls := func(fn func() error) int {
		t.Helper()
		counter.Reset()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, st := range counter.Snapshot() {
			n += st.Calls
		}
		return n
	}
	for _, c := range []struct {
		name  string
		index int64
		calls int
		level int64
	}{
		{"in order", 11, 1, 11},
		{"already delivered", 11, 1, 11},
		{"out of order, in the window", 13, 2, 11},
		{"filling the gap", 12, 2, 13},
		{"far ahead (an old gap)", 500, 1, 13},
	} {
		if got := calls(func() error { return p.Delivered(ctx, "c1", "r", c.index) }); got != c.calls {
			t.Errorf("%s: %d calls, want %d", c.name, got, c.calls)
		}
		if got := peekMark(t, p, "c1", "r"); got != c.level {
			t.Errorf("%s: watermark %d, want %d", c.name, got, c.level)
		}
	}
}

// TestPresenceSetExpiry: moving a connection's expiry (an in-band token
// refresh) moves it on every item a read checks: the connection (Get, so
// every frame), the user's connections and the room's (fan-out). It is
// bounded by ConnectedAt+ConnectionTTL; an unknown or expired connection
// is not found.
func TestPresenceSetExpiry(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	c1 := conn("c1", "u1", clk)
	c1.ExpiresAt = clk.Now().Add(time.Minute)
	mustRegister(t, p, c1, []string{"r1", "r2"}, nil)
	mustRegister(t, p, conn("c2", "u1", clk), []string{"r1"}, nil) // another entry of the user's item stays as it was
	if err := p.SetExpiry(ctx, "c1", clk.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Minute) // past the first expiry
	got, err := p.Get(ctx, "c1")
	if err != nil {
		t.Fatalf("Get after the old expiry: %v", err)
	}
	if want := newClock().Now().Add(2 * time.Hour); !got.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", got.ExpiresAt, want)
	}
	wantStrings(t, "user connections", userConns(t, p, "u1"), "c1", "c2")
	wantStrings(t, "r1", roomConns(t, p, "r1"), "c1/u1", "c2/u1")
	wantStrings(t, "r2", roomConns(t, p, "r2"), "c1/u1")

	// Bounded by the connection's lifetime.
	if err := p.SetExpiry(ctx, "c1", clk.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Get(ctx, "c1"); !got.ExpiresAt.Equal(c1.ConnectedAt.Add(tripsense.ConnectionTTL)) {
		t.Fatalf("ExpiresAt = %v, want ConnectedAt+ConnectionTTL", got.ExpiresAt)
	}
	// Watermarks still count after the old expiry, and Unregister finds them.
	if err := p.Delivered(ctx, "c1", "r2", 1); err != nil {
		t.Fatal(err)
	}
	if _, marks := mustUnregister(t, p, "c1"); marks["r2"] != 1 {
		t.Fatalf("marks %v", marks)
	}

	if err := p.SetExpiry(ctx, "nope", clk.Now().Add(time.Hour)); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("unknown connection: %v", err)
	}
	clk.Add(3 * time.Hour) // c2 expired
	if err := p.SetExpiry(ctx, "c2", clk.Now().Add(time.Hour)); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("expired connection: %v", err)
	}
}

package dynamo_test

import (
	"testing"
	"time"

	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/dynamo/dynamotest"
)

// lagged returns n Presence instances (n Lambda instances) over one set of
// tables whose indexes lag by 300ms and never catch up during the test
// (the lag's clock stands still).
func laggedPresences(t *testing.T, n int, clk *clock) []*dynamo.Presence {
	t.Helper()
	tables := mustTables(t)
	lag := dynamotest.NewGSILag(tables, 300*time.Millisecond, newClock().Now)
	out := make([]*dynamo.Presence, n)
	for i := range out {
		out[i] = dynamo.NewPresence(lag.Wrap(sharedClient()), dynamo.Config{Tables: tables, Now: clk.Now})
	}
	return out
}

// TestPresenceUnderGSILag: what one instance registered is seen at once by
// the others when they look up the user's connections (the duplicate
// policy), remove the user from a room, or add the user to one.
func TestPresenceUnderGSILag(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	clk := newClock()
	ps := laggedPresences(t, 3, clk)
	mustRegister(t, ps[0], conn("c1", "u1", clk), []string{"r1", "r2"}, nil)

	wantStrings(t, "UserConnections(u1) from another instance", userConns(t, ps[1], "u1"), "c1")

	if err := ps[1].Leave(ctx, "u1", "r1"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "RoomConnections(r1) after Leave", roomConns(t, ps[2], "r1"))

	if err := ps[1].Join(ctx, "u1", "r3"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "RoomConnections(r3) after Join", roomConns(t, ps[2], "r3"), "c1/u1")

	_, marks := mustUnregister(t, ps[2], "c1")
	if _, ok := marks["r1"]; ok {
		t.Errorf("Unregister returned a watermark for the left room r1: %v", marks)
	}
	wantStrings(t, "UserConnections(u1) after Unregister", userConns(t, ps[0], "u1"))
	wantStrings(t, "RoomConnections(r2) after Unregister", roomConns(t, ps[0], "r2"))
	wantStrings(t, "RoomConnections(r3) after Unregister", roomConns(t, ps[0], "r3"))
}

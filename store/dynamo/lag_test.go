package dynamo_test

import (
	"testing"
	"time"

	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/dynamo/dynamotest"
)

// TestGSILag checks the test double itself on the one index left (userRoom
// byRoom, behind Members): a new item is not seen until the lag passed, a
// deleted one is still seen, the base table is never stale.
func TestGSILag(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tables := mustTables(t)
	lagClock := newClock()
	lag := dynamotest.NewGSILag(tables, 300*time.Millisecond, lagClock.Now)
	cfg := dynamo.Config{Tables: tables}
	writer := dynamo.New(lag.Wrap(sharedClient()), cfg)
	reader := dynamo.New(lag.Wrap(sharedClient()), cfg) // another process, same lag
	members := func() []string {
		t.Helper()
		m, err := reader.Members(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := writer.AddMember(ctx, "r", "old"); err != nil {
		t.Fatal(err)
	}
	lagClock.Add(time.Second)
	if err := writer.AddMember(ctx, "r", "new"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "Members within the lag of the second add", members(), "old")
	if ok, err := reader.IsMember(ctx, "new", "r"); err != nil || !ok {
		t.Fatalf("IsMember (base table, consistent) = %v, %v: the lag must not touch it", ok, err)
	}
	lagClock.Add(299 * time.Millisecond)
	wantStrings(t, "Members 299ms after", members(), "old")
	lagClock.Add(2 * time.Millisecond)
	wantStrings(t, "Members after the lag", members(), "new", "old")

	if err := writer.RemoveMember(ctx, "r", "old"); err != nil {
		t.Fatal(err)
	}
	if err := writer.AddMember(ctx, "r", "a"); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "Members within the lag of a delete", members(), "new", "old")
	lagClock.Add(time.Second)
	wantStrings(t, "Members after the lag of a delete", members(), "a", "new")
}

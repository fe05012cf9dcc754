package test

// What a message and a catch-up page cost on AWS, counted from the calls
// the code makes (store/dynamo's CallCounter on each function's client, the
// gateway's count of PostToConnection). docs/deploy.md turns these counts
// into DynamoDB units and API Gateway messages for rooms of 10, 100 and
// 1,000 members. Run with -v to see the tables:
//
//	go test -race -run 'TestAWSCost' -v ./test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/test/gateway"
)

func formatOps(ops map[string]dynamo.OpStats) string {
	var b strings.Builder
	total, units := 0, 0.0
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		st := ops[op]
		fmt.Fprintf(&b, "%s×%d(%.1fcu) ", op, st.Calls, st.CapacityUnits)
		total += st.Calls
		units += st.CapacityUnits
	}
	fmt.Fprintf(&b, "= %d calls, %.1f capacity units (dynalite)", total, units)
	return b.String()
}

// sendAndCount sends one message from sender to room, waits until every
// recipient got it and every invocation finished, and returns the ws
// function's DynamoDB calls and the number of PostToConnection calls.
func sendAndCount(t *testing.T, s *awsStack, sender *gateway.Client, recipients []*gateway.Client, room, body string) (map[string]dynamo.OpStats, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.gw.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	s.wsCount.Reset()
	before, _, _ := s.gw.Stats()
	idx := mustSend(t, sender, room, body)
	for _, r := range recipients {
		mustMessage(t, r, room, body, idx)
	}
	if err := s.gw.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	after, _, _ := s.gw.Stats()
	return s.wsCount.Snapshot(), after - before
}

func TestAWSCostPerMessage(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	ctx := context.Background()
	const room = "costroom"
	for i := range 11 {
		if err := s.store.AddMember(ctx, room, fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	sender := s.dial("m0")
	recipients := []*gateway.Client{s.dial("m1")}
	one, posts1 := sendAndCount(t, s, sender, recipients, room, "to one")
	for i := 2; i <= 10; i++ {
		// They have read the first message (elsewhere): no unread gap, so
		// the second is delivered in order, as in steady live traffic.
		if _, err := s.store.AdvanceCursor(ctx, fmt.Sprintf("m%d", i), "", room, 1); err != nil {
			t.Fatal(err)
		}
		recipients = append(recipients, s.dial(fmt.Sprintf("m%d", i)))
	}
	ten, posts10 := sendAndCount(t, s, sender, recipients, room, "to ten")
	t.Logf("sendMessage with clientMsgId, 1 recipient online:   %s; PostToConnection×%d", formatOps(one), posts1)
	t.Logf("sendMessage with clientMsgId, 10 recipients online: %s; PostToConnection×%d", formatOps(ten), posts10)

	// The shape the cost model in docs/deploy.md rests on: per recipient one
	// post and one UpdateItem (the delivery report); everything else is
	// constant, whatever the room size.
	if posts1 != 2 || posts10 != 11 {
		t.Errorf("posts: %d and %d, want recipients + 1 (the ack)", posts1, posts10)
	}
	for _, op := range slices.Sorted(maps.Keys(ten)) {
		want := one[op].Calls
		if op == "UpdateItem" {
			want += 9
		}
		if ten[op].Calls != want {
			t.Errorf("%s: %d calls for 10 recipients, %d for 1: not 1 UpdateItem per extra recipient and constant otherwise", op, ten[op].Calls, one[op].Calls)
		}
	}

	// The calls of one connection's life besides messages: keep-alive
	// pings (API Gateway closes a connection idle for 10 minutes), markRead,
	// and the $disconnect of a connection whose watermark moved (m1 got
	// both messages), which writes its read cursor.
	idle := func(name string, fn func()) map[string]dynamo.OpStats {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := s.gw.WaitIdle(wctx); err != nil {
			t.Fatal(err)
		}
		s.wsCount.Reset()
		before, _, _ := s.gw.Stats()
		fn()
		if err := s.gw.WaitIdle(wctx); err != nil {
			t.Fatal(err)
		}
		after, _, _ := s.gw.Stats()
		ops := s.wsCount.Snapshot()
		t.Logf("%s: %s; PostToConnection×%d", name, formatOps(ops), after-before)
		return ops
	}
	ping := idle("ping", func() {
		recipients[1].Send(`{"action":"ping"}`)
		recipients[1].NextOfType("pong")
	})
	if n := totalCalls(ping); n != 1 {
		t.Errorf("ping: %d DynamoDB calls, want 1 (the connection lookup)", n)
	}
	idle("markRead", func() {
		recipients[1].Send(`{"action":"markRead","chatroomId":"costroom","index":2}`)
		recipients[1].NextOfType("cursor")
	})
	moved := idle("$disconnect (1 room, watermark moved)", func() { recipients[0].Close() })
	if moved["UpdateItem"].Calls != 2 || moved["DeleteItem"].Calls != 1 {
		t.Errorf("$disconnect with a moved watermark: %s; want the connection delete, the user entry and one cursor write", formatOps(moved))
	}

	// $connect and $disconnect of a user in one room.
	if err := s.store.AddMember(ctx, "solo", "loner"); err != nil {
		t.Fatal(err)
	}
	s.wsCount.Reset()
	c := s.dial("loner")
	connect := s.wsCount.Snapshot()
	s.wsCount.Reset()
	c.Close()
	disconnect := s.wsCount.Snapshot()
	t.Logf("$connect (user in 1 room, policy replace): %s", formatOps(connect))
	t.Logf("$disconnect (1 room, watermark unmoved):    %s", formatOps(disconnect))
	if n := totalCalls(connect); n != 10 {
		t.Errorf("$connect: %d calls, want 10 (docs/deploy.md)", n)
	}
	if n := totalCalls(disconnect); n != 5 {
		t.Errorf("$disconnect without a moved watermark: %d calls, want 5 (no cursor write)", n)
	}
}

func totalCalls(ops map[string]dynamo.OpStats) (n int) {
	for _, st := range ops {
		n += st.Calls
	}
	return n
}

// TestAWSCostPerCatchupPage: one catch-up page costs the same whether the
// room holds 100 or 300 messages (a key-range Query on the missed range).
func TestAWSCostPerCatchupPage(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	ctx := context.Background()
	fill := func(room string, n int) {
		for i := range n {
			_, _, err := s.store.Append(ctx, tripsense.NewMessage{Room: room, UserID: "writer", Body: fmt.Sprintf("message %d of %s, about a hundred bytes of chat text to be realistic ....", i, room), Type: "text message"})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range [][2]string{{"small", "reader1"}, {"big", "reader2"}, {"small", "writer"}, {"big", "writer"}} {
		if err := s.store.AddMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	fill("small", 100)
	fill("big", 300)
	if _, err := s.store.AdvanceCursor(ctx, "reader2", "", "big", 200); err != nil {
		t.Fatal(err)
	}
	page := func(user, query string, path string) map[string]dynamo.OpStats {
		s.apiCount.Reset()
		status, body := s.http("GET", path, query, s.token(user, false), "")
		if status != 200 {
			t.Fatalf("%s: %d %v", path, status, body)
		}
		return s.apiCount.Snapshot()
	}
	calls := func(ops map[string]dynamo.OpStats) (n int) {
		for _, st := range ops {
			n += st.Calls
		}
		return n
	}
	small := page("reader1", "limit=100", "/v1/sync")
	big := page("reader2", "limit=100", "/v1/sync")
	t.Logf("GET /v1/sync, 1 room, 100 missed of 100: %s", formatOps(small))
	t.Logf("GET /v1/sync, 1 room, 100 missed of 300: %s", formatOps(big))
	if calls(small) != calls(big) {
		t.Errorf("catch-up calls depend on the room's history: %d vs %d", calls(small), calls(big))
	}
	hist := page("reader2", "after=0&limit=100", "/v1/rooms/big/messages")
	t.Logf("GET /v1/rooms/{room}/messages?after=0&limit=100: %s", formatOps(hist))
	rooms := page("reader2", "", "/v1/rooms")
	t.Logf("GET /v1/rooms (1 room): %s", formatOps(rooms))
}

package dynamo_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/storetest"
)

// TestCallsPerOperation counts the DynamoDB calls and the capacity units
// (as dynalite reports them) of each store and presence operation with the
// CallCounter middleware, checks that the hot paths cost a constant number
// of calls, and logs the table docs/dynamodb.md quotes (go test -v -run
// TestCallsPerOperation ./store/dynamo).
func TestCallsPerOperation(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	counter := &dynamo.CallCounter{}
	counted := newClient(counter.AddToStack)
	tables := mustTables(t)
	clk := newClock()
	cfg := dynamo.Config{Tables: tables, Now: clk.Now}
	s := dynamo.New(counted, cfg)
	p := dynamo.NewPresence(counted, cfg)
	filler := dynamo.New(sharedClient(), cfg)

	var report []string
	measure := func(name string, wantCalls int, fn func() error) {
		t.Helper()
		counter.Reset()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		snap := counter.Snapshot()
		ops := slices.Sorted(func(yield func(string) bool) {
			for op := range snap {
				if !yield(op) {
					return
				}
			}
		})
		var calls int
		var units float64
		var parts []string
		for _, op := range ops {
			st := snap[op]
			calls += st.Calls
			units += st.CapacityUnits
			part := fmt.Sprintf("%s×%d", op, st.Calls)
			if st.Errors > 0 {
				part += fmt.Sprintf(" (%d condition failed)", st.Errors)
			}
			parts = append(parts, part)
		}
		report = append(report, fmt.Sprintf("| %s | %d | %s | %.1f |", name, calls, strings.Join(parts, ", "), units))
		if wantCalls > 0 && calls != wantCalls {
			t.Errorf("%s: %d calls (%s), want %d", name, calls, strings.Join(parts, ", "), wantCalls)
		}
	}
	send := func(room, cmid string) func() error {
		return func() error {
			_, _, err := s.Append(ctx, tripsense.NewMessage{Room: room, UserID: "u1", Body: strings.Repeat("b", 200), Type: "text message", ClientMsgID: cmid})
			return err
		}
	}

	measure("Append, empty room, no clientMsgId", 2, send("r0", ""))
	storetest.MustAppendN(t, filler, "big", "u2", 300)
	measure("Append, room of 300, no clientMsgId", 2, send("big", ""))
	measure("Append, room of 300, new clientMsgId", 3, send("big", "c-1"))
	measure("Append, retry of a stored clientMsgId", 4, send("big", "c-1"))
	measure("Head", 1, func() error { _, err := s.Head(ctx, "big"); return err })
	measure("MessagesAfter(100), page of 100 small messages", 1, func() error {
		msgs, err := s.MessagesAfter(ctx, "big", 100, 100)
		if err == nil && len(msgs) != 100 {
			err = fmt.Errorf("got %d messages", len(msgs))
		}
		return err
	})
	measure("MessagesBefore(200), page of 100 small messages", 1, func() error {
		_, err := s.MessagesBefore(ctx, "big", 200, 100)
		return err
	})
	for range 100 {
		storetest.MustAppendNew(t, filler, tripsense.NewMessage{Room: "huge", UserID: "u2", Body: strings.Repeat("€", tripsense.MaxChatMessageBytes/3), Type: "t"})
	}
	// DynamoDB stops a Query page at 1 MB, so this is 2 calls in AWS;
	// dynalite measures the 1 MB on a compressed size and answers in one.
	measure("MessagesAfter(0), page of 100 messages of 16 KB", 0, func() error {
		_, err := s.MessagesAfter(ctx, "huge", 0, 100)
		return err
	})
	measure("IsMember", 1, func() error { _, err := s.IsMember(ctx, "u1", "big"); return err })
	measure("AddMember", 1, func() error { return s.AddMember(ctx, "big", "u1") })
	measure("Rooms", 1, func() error { _, err := s.Rooms(ctx, "u1"); return err })
	measure("Members", 1, func() error { _, err := s.Members(ctx, "big"); return err })
	measure("AdvanceCursor (moves)", 2, func() error { _, err := s.AdvanceCursor(ctx, "u1", "", "big", 250); return err })
	measure("AdvanceCursor (already there)", 3, func() error { _, err := s.AdvanceCursor(ctx, "u1", "", "big", 10); return err })
	measure("Cursors", 1, func() error { _, err := s.Cursors(ctx, "u1", ""); return err })

	five := []string{"big", "r1", "r2", "r3", "r4"}
	measure("Register, 5 rooms", 6, func() error { _, err := p.Register(ctx, conn("c1", "u1", clk), five, nil, nil); return err })
	var thirty []string
	for i := range 30 {
		thirty = append(thirty, fmt.Sprintf("room-%d", i))
	}
	measure("Register, 30 rooms", 8, func() error { _, err := p.Register(ctx, conn("c2", "u2", clk), thirty, nil, nil); return err })
	for i := range 48 {
		mustRegister(t, dynamo.NewPresence(sharedClient(), cfg), conn(fmt.Sprintf("m%02d", i), fmt.Sprintf("m%02d", i), clk), []string{"big"}, nil)
	}
	measure("RoomConnections, 49 online", 1, func() error {
		ms, err := p.RoomConnections(ctx, "big")
		if err == nil && len(ms) != 49 {
			err = fmt.Errorf("got %d connections", len(ms))
		}
		return err
	})
	measure("Delivered, in order", 1, func() error { return p.Delivered(ctx, "c1", "big", 1) })
	measure("Delivered, out of order (remembered)", 3, func() error { return p.Delivered(ctx, "c1", "big", 3) })
	measure("Delivered, filling the gap", 3, func() error { return p.Delivered(ctx, "c1", "big", 2) })
	measure("SeenThrough", 1, func() error { return p.SeenThrough(ctx, "c1", "big", 300) })
	measure("UserConnections", 1, func() error { _, err := p.UserConnections(ctx, "u1"); return err })
	measure("Join, user with 1 connection", 4, func() error { return p.Join(ctx, "u1", "r9") })
	measure("Leave, user with 1 connection", 3, func() error { return p.Leave(ctx, "u1", "r9") })
	measure("Unregister, 5 rooms", 5, func() error { _, _, err := p.Unregister(ctx, "c1"); return err })

	t.Logf("DynamoDB calls per operation (capacity units as dynalite reports them):\n| operation | calls | by API | capacity units |\n|---|---|---|---|\n%s",
		strings.Join(report, "\n"))
}

package ws_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// timers collects the functions the receipt windows schedule, to run them
// when the test says the interval is over.
type timers struct {
	mu  sync.Mutex
	fns []func()
	ds  []time.Duration
}

func (tm *timers) after(d time.Duration, f func()) {
	tm.mu.Lock()
	tm.fns = append(tm.fns, f)
	tm.ds = append(tm.ds, d)
	tm.mu.Unlock()
}

// fire runs the scheduled functions and reports how many there were.
func (tm *timers) fire() int {
	tm.mu.Lock()
	fns := tm.fns
	tm.fns = nil
	tm.mu.Unlock()
	for _, f := range fns {
		f()
	}
	return len(fns)
}

func receiptsOf(frames []map[string]any) []string {
	var out []string
	for _, f := range frames {
		if f["type"] == "receipt" {
			out = append(out, fmt.Sprintf("%v:%v:%v", f["chatroomId"], f["userId"], f["lastRead"]))
		}
	}
	slices.Sort(out)
	return out
}

func appendN(t *testing.T, st tripsense.MessageStore, room string, n int) {
	t.Helper()
	for range n {
		if _, _, err := st.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: "uuid1", Body: "m", Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReceiptsAreLiveAndCoalesced: the first move of a read cursor in a
// room reaches the room's other connections at once; moves within the
// interval are remembered, latest value per user, and pushed once when it
// ends; a window with nothing new closes, and the next move is immediate
// again.
func TestReceiptsAreLiveAndCoalesced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	tm := &timers{}
	f.svc.ReceiptInterval = time.Hour
	ws.SetAfterFunc(f.svc, tm.after)
	appendN(t, f.store, "uuidroom2", 6)
	f.connect(t, "c1", "uuid1")
	u2 := f.connect(t, "c2", "uuid2")

	f.send(t, u2, `{"action":"markRead","chatroomId":"uuidroom2","index":1}`)
	if got := receiptsOf(f.rec.take("c1")); fmt.Sprint(got) != "[uuidroom2:uuid2:1]" {
		t.Fatalf("uuid1 got receipts %v, want uuid2's at once", got)
	}
	if got := f.rec.take("c2"); len(got) != 1 || got[0]["type"] != "cursor" {
		t.Fatalf("the reader's own connection got %v, want only its cursor frame", got)
	}
	if len(tm.ds) != 1 || tm.ds[0] != time.Hour {
		t.Fatalf("scheduled %v, want one window of the interval", tm.ds)
	}

	// Inside the window: nothing is pushed, the latest value wins.
	f.send(t, u2, `{"action":"markRead","chatroomId":"uuidroom2","index":2}`)
	f.send(t, u2, `{"action":"markRead","chatroomId":"uuidroom2","index":3}`)
	f.send(t, u2, `{"action":"markRead","chatroomId":"uuidroom2","index":2}`) // not a move
	if _, err := f.svc.MarkRead(ctx, "uuid1", "uuidroom2", 4); err != nil {   // PUT .../cursor
		t.Fatal(err)
	}
	if got := receiptsOf(f.rec.take("c1")); len(got) != 0 {
		t.Fatalf("receipts inside the window: %v", got)
	}
	if got := receiptsOf(f.rec.take("c2")); len(got) != 0 {
		t.Fatalf("receipts inside the window: %v", got)
	}

	if n := tm.fire(); n != 1 {
		t.Fatalf("%d timers fired", n)
	}
	// uuid1 marked read over HTTP: its own connection hears of it too.
	if got := receiptsOf(f.rec.take("c1")); fmt.Sprint(got) != "[uuidroom2:uuid1:4 uuidroom2:uuid2:3]" {
		t.Fatalf("uuid1 got %v after the window", got)
	}
	if got := receiptsOf(f.rec.take("c2")); fmt.Sprint(got) != "[uuidroom2:uuid1:4]" {
		t.Fatalf("uuid2 got %v after the window", got)
	}

	// The next window collects nothing and closes.
	if n := tm.fire(); n != 1 {
		t.Fatalf("%d timers fired", n)
	}
	if n := tm.fire(); n != 0 {
		t.Fatalf("an empty window scheduled another (%d)", n)
	}
	f.send(t, u2, `{"action":"markRead","chatroomId":"uuidroom2","index":5}`)
	if got := receiptsOf(f.rec.take("c1")); fmt.Sprint(got) != "[uuidroom2:uuid2:5]" {
		t.Fatalf("after a quiet window uuid1 got %v, want the receipt at once", got)
	}
}

// TestReceiptsWithoutCoalescing: a negative interval (Lambda) pushes every
// move at once and schedules nothing; a read cursor that does not move
// pushes nothing.
func TestReceiptsWithoutCoalescing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	tm := &timers{}
	f.svc.ReceiptInterval = -1
	ws.SetAfterFunc(f.svc, tm.after)
	appendN(t, f.store, "uuidroom2", 3)
	f.connect(t, "c1", "uuid1")
	for _, n := range []int64{1, 2, 2, 9} {
		if _, err := f.svc.MarkRead(ctx, "uuid2", "uuidroom2", n); err != nil {
			t.Fatal(err)
		}
	}
	if got := receiptsOf(f.rec.take("c1")); fmt.Sprint(got) != "[uuidroom2:uuid2:1 uuidroom2:uuid2:2 uuidroom2:uuid2:3]" {
		t.Fatalf("receipts %v", got)
	}
	if len(tm.ds) != 0 {
		t.Fatalf("scheduled %v", tm.ds)
	}
}

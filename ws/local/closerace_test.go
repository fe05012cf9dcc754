package local_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// TestFrameWrittenBeforeTheCloseCounts: a client that receives a frame
// and closes at once must find that frame counted in its stored cursor,
// even when the server reads the close before the writer has recorded the
// write. The writer is held between writing a batch and recording it (an
// injected delay), which is exactly that ordering.
func TestFrameWrittenBeforeTheCloseCounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0, ws.Replace, map[string][]string{"r": {"alice", "bob"}})
	local.SetAfterWrite(f.srv, func() { time.Sleep(300 * time.Millisecond) })
	bob := dial(t, f.url, "bob")
	alice := dial(t, f.url, "alice")
	defer alice.CloseNow()
	write(t, alice, `{"action":"sendMessage","chatroomId":"r","chatMessage":"hi","messageType":"text"}`)
	if m := readFrame(t, bob); m["type"] != "message" || m["index"] != float64(1) {
		t.Fatalf("bob got %v", m)
	}
	bob.Close(websocket.StatusNormalClosure, "got it, bye")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		conns, _ := f.hub.UserConnections(ctx, "bob")
		cur, err := f.store.Cursor(ctx, "bob", "", "r")
		if err != nil {
			t.Fatal(err)
		}
		if len(conns) == 0 && cur.LastSeen == 1 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("bob's cursor is %d after the close (connections %d), want 1: the frame written before the close was not counted", cur.LastSeen, len(conns))
		case <-time.After(10 * time.Millisecond): // poll interval; the deadline bounds the wait
		}
	}
}

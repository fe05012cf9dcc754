package local_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	gws "github.com/gobwas/ws"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// TestLiveMessageDuringALargeSyncDoesNotDropTheSyncer: a sync fills at most
// half the connection's queue, so a live message arriving while the client
// is slow to read still fits, and the client gets everything.
func TestLiveMessageDuringALargeSyncDoesNotDropTheSyncer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 64, ws.Replace, map[string][]string{"room": {"a", "b"}})
	waiting := make(chan struct{})
	var once sync.Once
	local.SetOnWait(f.hub, func() { once.Do(func() { close(waiting) }) })
	ctx := context.Background()
	const missed = 1500
	for range missed {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "room", UserID: "a", Body: strings.Repeat("x", 8000), Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	b := dialSmallReceiveBuffer(t, f.url, "b")
	defer b.CloseNow()
	b.SetReadLimit(1 << 20)
	write(t, b, `{"action":"sync"}`)
	// The client does not read yet: the sync fills its share of the queue
	// (half of it, and its byte budget, counting the batch the writer is
	// stuck on) and waits. How many frames are queued at that moment
	// depends on how many the kernel's socket buffers took and on when the
	// writer took its last batch; that the sync waits does not.
	select {
	case <-waiting:
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the sync to wait for room in the queue")
	}
	a := dial(t, f.url, "a")
	defer a.CloseNow()
	write(t, a, `{"action":"sendMessage","chatroomId":"room","chatMessage":"live","messageType":"t"}`)
	if fr := readFrame(t, a); fr["type"] != "ack" {
		t.Fatalf("sender got %v", fr)
	}
	messages, live := 0, false
	for {
		fr := readFrame(t, b)
		switch fr["type"] {
		case "message":
			if fr["chatMessage"] != "live" {
				t.Fatalf("a live message frame that is not the live message: %.80v", fr)
			}
			live = true
			continue
		case "messages": // a batch of the sync
			messages += len(fr["messages"].([]any))
			continue
		case "synced":
		default:
			t.Fatalf("got %v", fr)
		}
		break
	}
	if messages != missed {
		t.Fatalf("sync delivered %d of %d", messages, missed)
	}
	if !live {
		if fr := readFrame(t, b); fr["chatMessage"] != "live" {
			t.Fatalf("live message missing, got %v", fr)
		}
	}
}

// TestClosedConnectionHandlesNoFurtherFrame: once the server closed a
// connection (here as an expired token), a frame the client still sends is
// not handled, and the connection is gone from the hub promptly.
func TestClosedConnectionHandlesNoFurtherFrame(t *testing.T) {
	t.Parallel()
	srv := &local.Server{}
	addr := newRawFixture(t, srv)
	c := rawDial(t, addr, "u")
	waitUntil(t, "the connection to register", func() bool { return srv.Hub.Len() == 1 })
	conns, _ := srv.Hub.UserConnections(context.Background(), "u")
	if err := srv.Hub.Close(context.Background(), conns[0].ID, ws.CloseExpired, "token expired"); err != nil {
		t.Fatal(err)
	}
	if f := c.next(t); f.Header.OpCode != gws.OpClose {
		t.Fatalf("want a close frame, got %v", f.Header.OpCode)
	}
	// The client ignores the close and keeps talking.
	c.write(t, gws.NewTextFrame([]byte(`{"action":"sendMessage","chatroomId":"room","chatMessage":"after close","messageType":"t"}`)))
	waitUntil(t, "the connection to leave the hub", func() bool { return srv.Hub.Len() == 0 })
	if h, _ := srv.Service.Store.Head(context.Background(), "room"); h != 0 {
		t.Fatalf("a frame sent after the close was handled (head %d)", h)
	}
}

// dialSmallReceiveBuffer dials with a 4 KiB socket receive buffer, so that
// a client that does not read stalls the server's writes at once instead of
// after the tens of MiB the kernel would otherwise buffer.
func dialSmallReceiveBuffer(t *testing.T, url, user string) *websocket.Conn {
	t.Helper()
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url+"?userId="+user, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	return c
}

package local_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

type fixture struct {
	url   string
	hub   *local.Hub
	store *memory.Store
	srv   *local.Server
}

func newFixture(t *testing.T, queueLimit int, policy ws.DuplicatePolicy, members map[string][]string) *fixture {
	t.Helper()
	st := memory.New()
	for room, users := range members {
		for _, u := range users {
			if err := st.AddMember(context.Background(), room, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	hub := local.NewHub(local.HubOptions{QueueLimit: queueLimit})
	svc := &ws.Service{Store: st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: st}, Policy: policy, MaxConnectionsPerUser: 3}
	srv := &local.Server{Service: svc, Hub: hub, Auth: &auth.Dev{}}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(ws.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
	})
	return &fixture{url: "ws" + strings.TrimPrefix(ts.URL, "http"), hub: hub, store: st, srv: srv}
}

func dial(t testing.TB, url, user string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url+"?userId="+user, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	return c
}

func readFrame(t testing.TB, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func write(t testing.TB, c *websocket.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond until it holds or a deadline passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// TestClientThatNeverReadsDelaysNobody: a member whose client stops reading
// is closed as a slow consumer once its queue overflows, while a healthy
// member receives every message.
func TestClientThatNeverReadsDelaysNobody(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 32, ws.Replace, map[string][]string{"room": {"sender", "healthy", "stuck"}})
	// A raw handshake whose socket is never read.
	addr := strings.TrimPrefix(f.url, "ws://")
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fmt.Fprintf(raw, "GET /?userId=stuck HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	if resp, err := http.ReadResponse(bufio.NewReader(raw), nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}
	healthy := dial(t, f.url, "healthy")
	defer healthy.CloseNow()
	sender := dial(t, f.url, "sender")
	defer sender.CloseNow()

	const n = 800
	body := strings.Repeat("b", 8<<10)
	done := make(chan error, 1)
	var read atomic.Int64 // messages the healthy member has read
	go func() {
		for i := 1; i <= n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, data, err := healthy.Read(ctx)
			cancel()
			if err != nil {
				done <- err
				return
			}
			var m struct{ Index int64 }
			if err := json.Unmarshal(data, &m); err != nil || m.Index != int64(i) {
				done <- fmt.Errorf("frame %d: %s (%v)", i, data[:min(len(data), 80)], err)
				return
			}
			read.Store(int64(i))
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		// The healthy member keeps up, within half its queue: on a loaded
		// machine its reader may otherwise fall 32 frames behind and be
		// closed as a slow consumer too, which is right but not this test.
		// The stuck one falls behind at once either way.
		waitUntil(t, "the healthy member to keep up", func() bool { return read.Load() >= int64(i-16) })
		write(t, sender, fmt.Sprintf(`{"action":"sendMessage","chatroomId":"room","chatMessage":%q,"messageType":"t"}`, body))
		if ack := readFrame(t, sender); ack["type"] != "ack" {
			t.Fatalf("sender got %v", ack)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("healthy member: %v", err)
	}
	waitUntil(t, "the stuck connection to be dropped", func() bool {
		conns, _ := f.hub.UserConnections(context.Background(), "stuck")
		return len(conns) == 0
	})
	cur, _ := f.store.Cursor(context.Background(), "stuck", "", "room")
	if cur.LastSeen >= n {
		t.Fatalf("stuck member's cursor %d counts undelivered messages", cur.LastSeen)
	}
}

// TestConnectDisconnectCyclesLeaveNothingBehind: 10,000 connect/disconnect
// cycles leave no goroutine, no hub entry and no lasting heap growth.
func TestConnectDisconnectCyclesLeaveNothingBehind(t *testing.T) {
	f := newFixture(t, 0, ws.Allow, map[string][]string{"room": {"u0", "u1", "u2", "u3"}})
	cycles := 10000
	if testing.Short() {
		cycles = 1000
	}
	cycle := func(user string) {
		c := dial(t, f.url, user)
		write(t, c, `{"action":"ping"}`)
		if fr := readFrame(t, c); fr["type"] != "pong" {
			t.Fatalf("got %v", fr)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	settle := func() (int, uint64) {
		waitUntil(t, "the hub to empty", func() bool { return f.hub.Len() == 0 })
		http.DefaultClient.CloseIdleConnections()
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapInuse
	}
	for i := range 200 { // warm up pools and buffers
		cycle(fmt.Sprint("u", i%4))
	}
	g0, h0 := settle()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for range cycles / 4 {
				cycle(fmt.Sprint("u", w))
			}
		}(w)
	}
	wg.Wait()
	var g1 int
	var h1 uint64
	waitUntil(t, "goroutines to return to the baseline", func() bool {
		g1, h1 = settle()
		return g1 <= g0+2
	})
	t.Logf("%d cycles: goroutines %d -> %d, heap in use %d KiB -> %d KiB", cycles, g0, g1, h0>>10, h1>>10)
	if h1 > h0+8<<20 {
		t.Fatalf("heap grew from %d KiB to %d KiB over %d cycles", h0>>10, h1>>10, cycles)
	}
}

func TestConnectionsPerUserLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0, ws.Allow, map[string][]string{"room": {"u"}})
	for range 3 {
		c := dial(t, f.url, "u")
		defer c.CloseNow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, f.url+"?userId=u", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th connection: %v %v, want 429", resp, err)
	}
}

func TestUpgradeWithoutIdentityIs401(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0, ws.Replace, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, f.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial without userId: %v %v, want 401", resp, err)
	}
}

var _ tripsense.Pusher = (*local.Hub)(nil)

// writerGoroutines counts the goroutines running a connection's writer.
func writerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "ws/local.(*Server).write")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestIdleConnectionsHaveNoWriterGoroutine: a connection's writer runs only
// while it has something to write, so idle connections cost one goroutine
// (the reader), and a frame still reaches them. Not parallel: it counts
// every goroutine of the process.
func TestIdleConnectionsHaveNoWriterGoroutine(t *testing.T) {
	f := newFixture(t, 0, ws.Allow, map[string][]string{"room": {"a", "b", "c"}})
	a, b, c := dial(t, f.url, "a"), dial(t, f.url, "b"), dial(t, f.url, "c")
	defer a.CloseNow()
	defer b.CloseNow()
	defer c.CloseNow()
	waitUntil(t, "three connections", func() bool { return f.hub.Len() == 3 })
	waitUntil(t, "no writer goroutine", func() bool { return writerGoroutines() == 0 })
	for i := range 3 {
		write(t, a, fmt.Sprintf(`{"action":"sendMessage","chatroomId":"room","chatMessage":"m%d","messageType":"t"}`, i))
		if fr := readFrame(t, a); fr["type"] != "ack" {
			t.Fatalf("sender got %v", fr)
		}
		for _, r := range []*websocket.Conn{b, c} {
			if fr := readFrame(t, r); fr["type"] != "message" || fr["chatMessage"] != fmt.Sprintf("m%d", i) {
				t.Fatalf("member got %v", fr)
			}
		}
		waitUntil(t, "no writer goroutine after the delivery", func() bool { return writerGoroutines() == 0 })
	}
}

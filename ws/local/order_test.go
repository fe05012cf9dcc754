package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// orderConn is one client connection of the retry test: a reader goroutine
// records the indexes of message frames in arrival order and hands acks to
// the sender.
type orderConn struct {
	c       *websocket.Conn
	acks    chan map[string]any
	mu      sync.Mutex
	indexes []int64
	sent    int // messages this connection stored first (acked without duplicate)
	errs    []string
	done    chan struct{}
}

func (o *orderConn) read() {
	defer close(o.done)
	for {
		_, data, err := o.c.Read(context.Background())
		if err != nil {
			return
		}
		var f map[string]any
		if err := json.Unmarshal(data, &f); err != nil {
			o.fail("invalid frame %s", data)
			return
		}
		switch f["type"] {
		case "message":
			o.mu.Lock()
			o.indexes = append(o.indexes, int64(f["index"].(float64)))
			o.mu.Unlock()
		case "ack":
			if f["duplicate"] == true && !o.holds(int64(f["index"].(float64))) {
				o.fail("duplicate ack for %v before the message itself", f["index"])
			}
			if f["duplicate"] != true {
				o.mu.Lock()
				o.sent++
				o.mu.Unlock()
			}
			o.acks <- f
		default:
			o.fail("unexpected frame %s", data)
			o.acks <- f
		}
	}
}

func (o *orderConn) holds(index int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, i := range o.indexes {
		if i == index {
			return true
		}
	}
	return false
}

func (o *orderConn) fail(format string, args ...any) {
	o.mu.Lock()
	o.errs = append(o.errs, fmt.Sprintf(format, args...))
	o.mu.Unlock()
}

// TestConcurrentRetriesKeepRoomOrder: with --duplicate-connections allow,
// every user sends each message with one clientMsgId on both of its
// connections at once (a retry racing the original). Every connection must
// receive the room's messages in index order, each index once, and a
// duplicate's ack only after the message itself.
func TestConcurrentRetriesKeepRoomOrder(t *testing.T) {
	t.Parallel()
	testConcurrentRetries(t, memory.New(), 1)
}

// TestConcurrentPipelinedRetriesKeepRoomOrder is the same on the durable
// store, whose appends are queued, with 8 messages of each connection in
// flight at once (pipelined sends): the ordering and the duplicates' wait
// hold for pipelined sends too.
func TestConcurrentPipelinedRetriesKeepRoomOrder(t *testing.T) {
	t.Parallel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	testConcurrentRetries(t, st, 8)
}

func testConcurrentRetries(t *testing.T, st tripsense.Store, window int) {
	const users, each = 8, 40
	for u := range users {
		if err := st.AddMember(context.Background(), "room", fmt.Sprint("u", u)); err != nil {
			t.Fatal(err)
		}
	}
	hub := local.NewHub(local.HubOptions{})
	svc := &ws.Service{Store: st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: st},
		Policy: ws.Allow, OrderedRooms: true, FanoutParallelism: 1}
	srv := &local.Server{Service: svc, Hub: hub, Auth: &auth.Dev{}}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(ws.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
	})
	url := "ws" + strings.TrimPrefix(ts.URL, "http")

	conns := make([][2]*orderConn, users)
	for u := range users {
		for k := range 2 {
			o := &orderConn{c: dial(t, url, fmt.Sprint("u", u)), acks: make(chan map[string]any, 4*window), done: make(chan struct{})}
			o.c.SetReadLimit(1 << 20)
			go o.read()
			conns[u][k] = o
		}
	}
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < each; n += window {
				for k := n; k < n+window; k++ {
					frame := fmt.Sprintf(`{"action":"sendMessage","chatroomId":"room","chatMessage":"m","messageType":"text message","clientMsgId":"u%d-%d"}`, u, k)
					for _, o := range conns[u] {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						err := o.c.Write(ctx, websocket.MessageText, []byte(frame))
						cancel()
						if err != nil {
							t.Error(err)
							return
						}
					}
				}
				for _, o := range conns[u] {
					for k := n; k < n+window; k++ {
						select {
						case f := <-o.acks:
							if f["type"] != "ack" || f["clientMsgId"] != fmt.Sprintf("u%d-%d", u, k) {
								t.Errorf("u%d: %v, want the ack of u%d-%d", u, f, u, k)
								return
							}
						case <-time.After(10 * time.Second):
							t.Errorf("u%d: no ack for message %d", u, k)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	// Every connection receives every message but the ones it stored first
	// itself (fan-out skips the sender's connection, not its twin).
	const total = users * each
	for u := range users {
		for k, o := range conns[u] {
			waitUntil(t, fmt.Sprintf("u%d/%d to receive its messages", u, k), func() bool {
				o.mu.Lock()
				defer o.mu.Unlock()
				return len(o.indexes) >= total-o.sent
			})
		}
	}
	for u := range users {
		for k, o := range conns[u] {
			o.mu.Lock()
			for _, e := range o.errs {
				t.Errorf("u%d/%d: %s", u, k, e)
			}
			for i := 1; i < len(o.indexes); i++ {
				if o.indexes[i] <= o.indexes[i-1] {
					t.Errorf("u%d/%d: index %d after %d (position %d of %d)", u, k, o.indexes[i], o.indexes[i-1], i, len(o.indexes))
					break
				}
			}
			if len(o.indexes) != total-o.sent {
				t.Errorf("u%d/%d: received %d messages, want %d", u, k, len(o.indexes), total-o.sent)
			}
			o.mu.Unlock()
		}
	}
}

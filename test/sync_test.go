package test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func roomOf(t *testing.T, body map[string]any, room string) map[string]any {
	t.Helper()
	rooms, ok := body["rooms"].([]any)
	if !ok {
		t.Fatalf("no rooms in %v", body)
	}
	for _, r := range rooms {
		if r := r.(map[string]any); r["chatroomId"] == room {
			return r
		}
	}
	t.Fatalf("room %s not in %v", room, body)
	return nil
}

// delivered returns the stored delivered cursor of (user, room): the
// lastSeen GET /v1/sync starts from without client cursors.
func delivered(t *testing.T, s *server, user, room string) any {
	t.Helper()
	_, body := httpJSON(t, "GET", "http://"+s.addr+"/v1/sync?limit=1", user, nil)
	return roomOf(t, body, room)["lastSeen"]
}

// TestOfflineSyncOverHTTP is the product's core flow: uuid2 goes offline,
// uuid1 writes, uuid2 comes back and catches up exactly what it missed.
func TestOfflineSyncOverHTTP(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	base := "http://" + s.addr
	u1 := mustDial(t, s, "uuid1")
	u2 := mustDial(t, s, "uuid2")
	// Something uuid2 sees live first, so its cursor starts above 0.
	u1.send(sendMsg("uuid1", "uuidroom2", "seen live"))
	u1.nextOfType("ack")
	u2.nextOfType("message")
	u2.conn.Close(websocket.StatusNormalClosure, "going offline")
	// The server records the cursor when it processes the close; wait for it.
	waitFor(t, "uuid2's cursor to record the live message", func() bool {
		return delivered(t, s, "uuid2", "uuidroom2") == float64(1)
	})

	for i := 1; i <= 5; i++ {
		u1.send(sendMsg("uuid1", "uuidroom2", fmt.Sprintf("missed %d", i)))
		u1.nextOfType("ack")
	}
	for i := 1; i <= 3; i++ {
		u1.send(sendMsg("uuid1", "uuidroom1", fmt.Sprintf("not for uuid2 %d", i)))
		u1.nextOfType("ack")
	}

	mustDial(t, s, "uuid2") // reconnect
	status, body := httpJSON(t, "GET", base+"/v1/sync", "uuid2", nil)
	if status != 200 {
		t.Fatalf("sync: %d %v", status, body)
	}
	rooms := body["rooms"].([]any)
	if len(rooms) != 2 {
		t.Fatalf("uuid2 has rooms %v, want uuidroom2 and uuidroom3 only", rooms)
	}
	r2 := roomOf(t, body, "uuidroom2")
	if r2["lastSeen"] != float64(1) || r2["head"] != float64(6) || r2["unread"] != float64(5) ||
		r2["from"] != float64(2) || r2["to"] != float64(6) || r2["complete"] != true {
		t.Fatalf("uuidroom2 = %v", r2)
	}
	msgs := r2["messages"].([]any)
	if len(msgs) != 5 {
		t.Fatalf("got %d messages, want 5", len(msgs))
	}
	for i, m := range msgs {
		m := m.(map[string]any)
		if m["index"] != float64(i+2) || m["chatMessage"] != fmt.Sprintf("missed %d", i+1) || m["chatroomId"] != "uuidroom2" {
			t.Fatalf("message %d = %v", i, m)
		}
	}
	if r3 := roomOf(t, body, "uuidroom3"); r3["unread"] != float64(0) || len(r3["messages"].([]any)) != 0 {
		t.Fatalf("uuidroom3 = %v", r3)
	}

	// Nothing was marked read: the live message counts as unread too.
	_, body = httpJSON(t, "GET", base+"/v1/rooms", "uuid2", nil)
	if r := roomOf(t, body, "uuidroom2"); r["unread"] != float64(6) || r["lastRead"] != float64(0) {
		t.Fatalf("before PUT: %v", r)
	}
	status, cur := httpJSON(t, "PUT", base+"/v1/rooms/uuidroom2/cursor", "uuid2", strings.NewReader(`{"lastRead":6}`))
	if status != 200 || cur["lastRead"] != float64(6) {
		t.Fatalf("PUT cursor: %d %v", status, cur)
	}
	_, body = httpJSON(t, "GET", base+"/v1/rooms", "uuid2", nil)
	if r := roomOf(t, body, "uuidroom2"); r["unread"] != float64(0) {
		t.Fatalf("after PUT: %v", r)
	}
	// Never backwards.
	if _, cur := httpJSON(t, "PUT", base+"/v1/rooms/uuidroom2/cursor", "uuid2", strings.NewReader(`{"lastRead":2}`)); cur["lastRead"] != float64(6) {
		t.Fatalf("cursor moved backwards: %v", cur)
	}
}

// TestLargeGapPagesToTheEnd: a 2,500-message gap, read page by page, arrives
// complete, in order, without a duplicate.
func TestLargeGapPagesToTheEnd(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	base := "http://" + s.addr
	u1 := mustDial(t, s, "uuid1")
	const n = 2500
	for i := 1; i <= n; i++ {
		u1.send(sendMsg("uuid1", "uuidroom2", fmt.Sprint(i)))
	}
	for i := 1; i <= n; i++ {
		if ack := u1.nextOfType("ack"); ack["index"] != float64(i) {
			t.Fatalf("ack %d = %v", i, ack)
		}
	}
	status, body := httpJSON(t, "GET", base+"/v1/sync?limit=1000", "uuid2", nil)
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	r := roomOf(t, body, "uuidroom2")
	if r["complete"] != false || r["unread"] != float64(n) {
		t.Fatalf("first page: complete=%v unread=%v", r["complete"], r["unread"])
	}
	got := 0
	check := func(msgs []any) {
		for _, m := range msgs {
			got++
			if idx := m.(map[string]any)["index"]; idx != float64(got) {
				t.Fatalf("message %d has index %v", got, idx)
			}
		}
	}
	check(r["messages"].([]any))
	next := r["next"].(float64)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("too many pages")
		}
		_, page := httpJSON(t, "GET", fmt.Sprintf("%s/v1/rooms/uuidroom2/messages?after=%d&limit=1000", base, int64(next)), "uuid2", nil)
		check(page["messages"].([]any))
		if page["hasMore"] != true {
			break
		}
		next = page["next"].(float64)
	}
	if got != n {
		t.Fatalf("paged %d messages, want %d", got, n)
	}
	// Scrolling back from the end.
	_, older := httpJSON(t, "GET", base+"/v1/rooms/uuidroom2/messages?before=2501&limit=10", "uuid2", nil)
	ms := older["messages"].([]any)
	if len(ms) != 10 || ms[0].(map[string]any)["index"] != float64(2491) || ms[9].(map[string]any)["index"] != float64(2500) {
		t.Fatalf("before page = %v", ms)
	}
}

func TestNonMembersAndForgedUsersGet403(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	base := "http://" + s.addr
	for _, tc := range []struct{ method, path, user, body string }{
		{"GET", "/v1/rooms/uuidroom3/messages?after=0", "uuid1", ""},
		{"GET", "/v1/rooms/nosuchroom/messages?after=0", "uuid1", ""},
		{"PUT", "/v1/rooms/uuidroom3/cursor", "uuid1", `{"lastRead":1}`},
		{"GET", "/v1/rooms/uuidroom3/receipts", "uuid1", ""},
		{"POST", "/v1/rooms/uuidroom1/members", "uuid1", `{"userId":"uuid1"}`},
	} {
		var body *strings.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		var status int
		var v map[string]any
		if body != nil {
			status, v = httpJSON(t, tc.method, base+tc.path, tc.user, body)
		} else {
			status, v = httpJSON(t, tc.method, base+tc.path, tc.user, nil)
		}
		if status != 403 {
			t.Errorf("%s %s as %s: %d %v, want 403", tc.method, tc.path, tc.user, status, v)
		}
		if strings.Contains(fmt.Sprint(v), "head") {
			t.Errorf("%s %s: 403 leaks room details: %v", tc.method, tc.path, v)
		}
	}
	// No identity, or a malformed one: 401.
	for _, user := range []string{"", "bad user"} {
		if status, v := httpJSON(t, "GET", base+"/v1/rooms", user, nil); status != 401 {
			t.Errorf("user %q: %d %v, want 401", user, status, v)
		}
	}
}

// TestDeadConnectionIsNotCountedAsSeen: uuid2's client stops reading while
// uuid1 floods the room; the server drops it as a slow consumer, and its
// cursor stays below the head, so a catch-up returns what it never read.
func TestDeadConnectionIsNotCountedAsSeen(t *testing.T) {
	t.Parallel()
	s := mustStart(t, "--queue-limit", "64")
	base := "http://" + s.addr
	// A raw WebSocket handshake, then never read: the socket buffers fill
	// and the server's queue for this connection overflows.
	raw, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fmt.Fprintf(raw, "GET /ws?userId=uuid2 HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", s.addr)
	resp, err := http.ReadResponse(bufio.NewReader(raw), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}

	u1 := mustDial(t, s, "uuid1")
	big := strings.Repeat("z", 8<<10)
	const n = 600
	for i := 1; i <= n; i++ {
		u1.send(sendMsg("uuid1", "uuidroom2", big))
	}
	for i := 1; i <= n; i++ {
		u1.nextOfType("ack")
	}
	raw.Close() // the phone dies
	waitFor(t, "uuid2 to be disconnected", func() bool {
		// Reconnecting works once the server dropped the old connection
		// (or, under the replace policy, replaces it first, recording its
		// cursor): read the stored cursor only after that.
		c, err := dial(s, "uuid2")
		if err != nil {
			return false
		}
		c.conn.CloseNow()
		return true
	})
	// Catch-up from the stored cursor delivers exactly what was missed: the
	// first page starts right after lastSeen, and pages (bounded to 1 MiB,
	// about 125 of these 8 KiB messages) continue to the last message.
	// lastSeen comes from the same answer: a cursor read before the
	// reconnect could predate the old connection's disconnect.
	_, body := httpJSON(t, "GET", base+"/v1/sync?limit=1000", "uuid2", nil)
	r := roomOf(t, body, "uuidroom2")
	lastSeen := r["lastSeen"].(float64)
	if lastSeen >= n {
		t.Fatalf("lastSeen %v: messages that never reached the client were counted as seen", lastSeen)
	}
	if r["from"] != lastSeen+1 {
		t.Fatalf("catch-up after a dead connection starts at %v (lastSeen %v)", r["from"], lastSeen)
	}
	got := 0
	for pages := 0; ; pages++ {
		msgs := r["messages"].([]any)
		if pages > 10 || len(msgs) == 0 || r["to"].(float64)-r["from"].(float64)+1 != float64(len(msgs)) {
			t.Fatalf("catch-up page %d: from %v to %v with %d messages", pages, r["from"], r["to"], len(msgs))
		}
		got += len(msgs)
		if r["complete"] == true {
			break
		}
		_, body = httpJSON(t, "GET", fmt.Sprintf("%s/v1/sync?limit=1000&after=uuidroom2:%v", base, r["next"]), "uuid2", nil)
		r = roomOf(t, body, "uuidroom2")
	}
	if r["to"] != float64(n) || got != int(n-lastSeen) {
		t.Fatalf("catch-up after a dead connection: %d messages up to %v (lastSeen %v)", got, r["to"], lastSeen)
	}
}

// TestOfflineSyncOverWebSocket: the sync action pushes the missed messages
// and a synced frame per room, so a wscat user catches up without curl.
func TestOfflineSyncOverWebSocket(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	u1 := mustDial(t, s, "uuid1")
	for i := 1; i <= 5; i++ {
		u1.send(sendMsg("uuid1", "uuidroom2", fmt.Sprint("m", i)))
		u1.nextOfType("ack")
	}
	u2 := mustDial(t, s, "uuid2")
	u2.send(`{"action":"sync","cursors":{"uuidroom2":2}}`)
	// Small messages: one batch holds them all.
	if got := batchIndexes(t, u2.nextOfType("messages"), "uuidroom2"); fmt.Sprint(got) != "[3 4 5]" {
		t.Fatalf("sync batch indexes %v, want [3 4 5]", got)
	}
	if f := u2.nextOfType("synced"); f["chatroomId"] != "uuidroom2" || f["head"] != float64(5) || f["complete"] != true {
		t.Fatalf("synced = %v", f)
	}
	if f := u2.nextOfType("synced"); f["chatroomId"] != "uuidroom3" {
		t.Fatalf("synced = %v", f)
	}
	if f := u2.next(); f["type"] != "syncDone" {
		t.Fatalf("after the last synced: %v, want syncDone", f)
	}
	// The pushed messages count as seen once uuid2 disconnects: stored
	// cursor was 0, the client said 2, 3..5 were delivered.
	u2.send(`{"action":"sync"}`)
	if got := batchIndexes(t, u2.nextOfType("messages"), "uuidroom2"); len(got) != 5 {
		t.Fatalf("sync batch indexes %v, want 1 to 5", got)
	}
	u2.nextOfType("synced")
	u2.nextOfType("synced")
	u2.nextOfType("syncDone")
	u2.conn.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "cursor to advance on disconnect", func() bool {
		return delivered(t, s, "uuid2", "uuidroom2") == float64(5)
	})
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// batchIndexes returns the indexes of a sync's messages frame, checking
// that it and every message in it are of room.
func batchIndexes(t *testing.T, f map[string]any, room string) []int64 {
	t.Helper()
	msgs, ok := f["messages"].([]any)
	if f["chatroomId"] != room || !ok || len(msgs) == 0 {
		t.Fatalf("messages frame %v, want a batch of %s", f, room)
	}
	var out []int64
	for _, m := range msgs {
		mm := m.(map[string]any)
		if mm["chatroomId"] != room {
			t.Fatalf("message %v in a batch of %s", mm, room)
		}
		out = append(out, int64(mm["index"].(float64)))
	}
	return out
}

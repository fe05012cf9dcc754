package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestSeedScenarioOverWebSocket(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	u1 := mustDial(t, s, "uuid1")
	u2 := mustDial(t, s, "uuid2")

	u1.send(sendMsg("uuid1", "uuidroom1", "only uuid1 sees this"))
	if ack := u1.nextOfType("ack"); ack["index"] != float64(1) || ack["chatroomId"] != "uuidroom1" {
		t.Fatalf("ack = %v", ack)
	}
	u2.expectNone()

	u2.send(sendMsg("uuid2", "uuidroom3", "only uuid2 sees this"))
	u2.nextOfType("ack")
	u1.expectNone()

	u1.send(sendMsg("uuid1", "uuidroom2", "both see this"))
	u1.nextOfType("ack")
	m := u2.nextOfType("message")
	if m["chatroomId"] != "uuidroom2" || m["userId"] != "uuid1" || m["chatMessage"] != "both see this" || m["index"] != float64(1) || m["messageType"] != "text message" {
		t.Fatalf("message = %v", m)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", m["createTime"].(string)); err != nil {
		t.Fatalf("createTime %v: %v", m["createTime"], err)
	}
	u2.send(map[string]string{"action": "sendMessage", "userId": "uuid2", "chatroomId": "uuidroom2", "chatMessage": "reply", "messageType": "text message", "clientMsgId": "m-1"})
	if ack := u2.nextOfType("ack"); ack["index"] != float64(2) || ack["clientMsgId"] != "m-1" {
		t.Fatalf("ack = %v", ack)
	}
	if m := u1.nextOfType("message"); m["index"] != float64(2) || m["clientMsgId"] != "m-1" {
		t.Fatalf("message = %v", m)
	}
}

func TestBadFramesKeepTheConnectionUsable(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	u1 := mustDial(t, s, "uuid1")
	for _, tc := range []struct{ frame, code string }{
		{`not json`, "bad_request"},
		{`{"action":"fly"}`, "unknown_action"},
		{`{"action":"sendMessage","chatroomId":"uuidroom1"}`, "bad_request"},
		{`{"action":"sendMessage","userId":"uuid2","chatroomId":"uuidroom1","chatMessage":"x","messageType":"t"}`, "forbidden"},
		{`{"action":"sendMessage","chatroomId":"uuidroom3","chatMessage":"x","messageType":"t"}`, "not_member"},
		{`{"action":"sendMessage","chatroomId":"bad room!","chatMessage":"x","messageType":"t"}`, "bad_request"},
		{fmt.Sprintf(`{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":%q,"messageType":"t"}`, strings.Repeat("a", 17<<10)), "too_large"},
		{`{"action":"ping","pad":"` + strings.Repeat("p", 40<<10) + `"}`, "too_large"},
	} {
		u1.send(tc.frame)
		if e := u1.nextOfType("error"); e["code"] != tc.code {
			t.Fatalf("frame %.60q: error %v, want %s", tc.frame, e, tc.code)
		}
	}
	u1.send(sendMsg("uuid1", "uuidroom1", "still works"))
	if ack := u1.nextOfType("ack"); ack["index"] != float64(1) {
		t.Fatalf("ack after bad frames = %v (nothing else may have been stored)", ack)
	}
	// Beyond the hard cap the server closes with 1009.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = u1.conn.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", 2<<20)))
	select {
	case <-u1.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed after a 2 MiB frame")
	}
	if code := websocket.CloseStatus(u1.err); code != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v (%v), want 1009", code, u1.err)
	}
	// The server keeps running.
	u2 := mustDial(t, s, "uuid1")
	u2.send(`{"action":"ping"}`)
	u2.nextOfType("pong")
}

func TestDuplicateConnectionPolicyReplace(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	old := mustDial(t, s, "uuid1")
	old.expectNone()
	fresh := mustDial(t, s, "uuid1")
	select {
	case <-old.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("old connection not closed")
	}
	if code := websocket.CloseStatus(old.err); code != 4000 {
		t.Fatalf("old connection closed with %v, want 4000", code)
	}
	fresh.send(`{"action":"ping"}`)
	fresh.nextOfType("pong")
}

func TestDuplicateConnectionPolicyRefuse(t *testing.T) {
	t.Parallel()
	s := mustStart(t, "--duplicate-connections", "refuse")
	first := mustDial(t, s, "uuid1")
	first.expectNone()
	if _, err := dial(s, "uuid1"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("second connection: %v, want refused with 409", err)
	}
	first.conn.Close(websocket.StatusNormalClosure, "bye")
	// Once the first is gone the user may reconnect. The server notices the
	// close asynchronously, so retry until a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dial(s, "uuid1")
		if err == nil {
			c.conn.CloseNow()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reconnect after close still refused: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // retry interval, bounded by the deadline
	}
}

// TestKill9UnderLoadLosesNoAcknowledgedMessage: 20 clients send to one room
// while the server is killed with SIGKILL; after a restart every
// acknowledged message is stored, indexes are 1..N without a gap, and the
// next send gets N+1.
func TestKill9UnderLoadLosesNoAcknowledgedMessage(t *testing.T) {
	t.Parallel()
	s := mustStart(t, "--no-demo")
	s.stop()
	for i := range 20 {
		s.tool("members", "add", "--room", "crash", "--user", fmt.Sprintf("w%02d", i))
	}
	s.mustRun()

	var mu sync.Mutex
	acked := map[string]int64{} // clientMsgId -> index
	cursors := map[int]int64{}  // worker -> last acknowledged read cursor
	var wg sync.WaitGroup
	enough := make(chan struct{})
	var enoughOnce sync.Once
	for i := range 20 {
		c := mustDial(t, s, fmt.Sprintf("w%02d", i))
		wg.Add(1)
		go func(i int, c *client) {
			defer wg.Done()
			for n := 0; n < 5000; n++ {
				id := fmt.Sprintf("w%02d-%d", i, n)
				data, _ := json.Marshal(map[string]string{"action": "sendMessage", "chatroomId": "crash", "chatMessage": id, "messageType": "text message", "clientMsgId": id})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := c.conn.Write(ctx, websocket.MessageText, data)
				cancel()
				if err != nil {
					return
				}
				// Wait for this message's ack; skip others' message frames.
				var index int64
				for index == 0 {
					var f map[string]any
					select {
					case f = <-c.frames:
					case <-c.closed:
						return
					}
					if f["type"] == "ack" {
						index = int64(f["index"].(float64))
						mu.Lock()
						acked[f["clientMsgId"].(string)] = index
						if len(acked) >= 400 {
							enoughOnce.Do(func() { close(enough) })
						}
						mu.Unlock()
					}
				}
				if n%5 != 4 {
					continue
				}
				// Every 5th message, mark the room read up to it and wait for
				// the durable cursor answer.
				data, _ = json.Marshal(map[string]any{"action": "markRead", "chatroomId": "crash", "index": index})
				ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
				err = c.conn.Write(ctx, websocket.MessageText, data)
				cancel()
				if err != nil {
					return
				}
				for {
					var f map[string]any
					select {
					case f = <-c.frames:
					case <-c.closed:
						return
					}
					if f["type"] == "cursor" {
						mu.Lock()
						cursors[i] = int64(f["lastRead"].(float64))
						mu.Unlock()
						break
					}
				}
			}
		}(i, c)
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("fewer than 400 acks within 60s")
	}
	s.kill9()
	wg.Wait()

	stored := map[string]int64{}
	out := lines(s.tool("messages", "--room", "crash"))
	for i, l := range out {
		var m struct {
			Index       int64  `json:"index"`
			ClientMsgID string `json:"clientMsgId"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m.Index != int64(i+1) {
			t.Fatalf("message %d has index %d: gap or duplicate", i+1, m.Index)
		}
		if _, dup := stored[m.ClientMsgID]; dup {
			t.Fatalf("clientMsgId %s stored twice", m.ClientMsgID)
		}
		stored[m.ClientMsgID] = m.Index
	}
	mu.Lock()
	for id, idx := range acked {
		if stored[id] != idx {
			t.Fatalf("acknowledged %s at index %d, stored at %d", id, idx, stored[id])
		}
	}
	t.Logf("acked %d, stored %d after kill -9", len(acked), len(stored))
	mu.Unlock()

	s.mustRun()
	// No read cursor moved backwards.
	for i, want := range cursors {
		_, body := httpJSON(t, "GET", "http://"+s.addr+"/v1/rooms", fmt.Sprintf("w%02d", i), nil)
		if got := roomOf(t, body, "crash")["lastRead"].(float64); int64(got) < want {
			t.Fatalf("w%02d: cursor %v after restart, acknowledged %d", i, got, want)
		}
	}
	c := mustDial(t, s, "w00")
	c.send(map[string]string{"action": "sendMessage", "chatroomId": "crash", "chatMessage": "after restart", "messageType": "text message"})
	for {
		f := c.next()
		if f["type"] == "ack" {
			if f["index"] != float64(len(stored)+1) {
				t.Fatalf("next index %v, want %d", f["index"], len(stored)+1)
			}
			break
		}
	}
}

func TestGracefulShutdownClosesWith1001(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	c := mustDial(t, s, "uuid1")
	c.expectNone()
	s.stop()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("not closed on shutdown")
	}
	if code := websocket.CloseStatus(c.err); code != websocket.StatusGoingAway {
		t.Fatalf("close status %v, want 1001", code)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, s.logs.String())
	}
}

// TestUserWithoutRoomsConnectsAndReceivesNothingUntilAdded: a user with no
// rooms may connect; once an admin adds it to a room, it receives that
// room's messages on the same connection.
func TestUserWithoutRoomsConnectsAndReceivesNothingUntilAdded(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	nobody := mustDial(t, s, "uuid9")
	u1 := mustDial(t, s, "uuid1")
	u1.send(sendMsg("uuid1", "uuidroom1", "before"))
	u1.nextOfType("ack")
	nobody.expectNone()
	status, body := httpJSON(t, "POST", "http://"+s.addr+"/v1/rooms/uuidroom1/members", "admin", strings.NewReader(`{"userId":"uuid9"}`))
	if status != 200 {
		t.Fatalf("add member: %d %v", status, body)
	}
	// Both hear of the new member first.
	for _, c := range []*client{nobody, u1} {
		if m := c.nextOfType("member"); m["userId"] != "uuid9" || m["event"] != "joined" {
			t.Fatalf("member frame %v", m)
		}
	}
	u1.send(sendMsg("uuid1", "uuidroom1", "after"))
	u1.nextOfType("ack")
	// 1 "before", 2 the joined entry, 3 "after".
	if m := nobody.nextOfType("message"); m["chatMessage"] != "after" || m["index"] != float64(3) {
		t.Fatalf("new member got %v", m)
	}
}

// TestConcurrentSendersArriveInIndexOrder: the single binary hands a room's
// messages out in index order, so a reader sees 1, 2, 3, … even while ten
// users send at once.
func TestConcurrentSendersArriveInIndexOrder(t *testing.T) {
	t.Parallel()
	s := mustStart(t, "--no-demo")
	s.stop()
	for i := range 11 {
		s.tool("members", "add", "--room", "busy", "--user", fmt.Sprintf("o%02d", i))
	}
	s.mustRun()
	reader := mustDial(t, s, "o10")
	const senders, each = 10, 60
	var wg sync.WaitGroup
	for i := range senders {
		c := mustDial(t, s, fmt.Sprintf("o%02d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				data, _ := json.Marshal(map[string]string{"action": "sendMessage", "chatroomId": "busy", "chatMessage": fmt.Sprint(n), "messageType": "text message"})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := c.conn.Write(ctx, websocket.MessageText, data)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for want := 1; want <= senders*each; want++ {
		if m := reader.nextOfType("message"); m["index"] != float64(want) {
			t.Fatalf("reader got index %v, want %d", m["index"], want)
		}
	}
	wg.Wait()
}

// TestMembersCommandWhileTheServerRuns: the store is locked by the running
// server, so `tripsense members add` goes through its admin API, and the
// member's open connection receives the room at once.
func TestMembersCommandWhileTheServerRuns(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	u1 := mustDial(t, s, "uuid1")
	out := s.tool("members", "add", "--room", "uuidroom3", "--user", "uuid1", "--addr", s.addr)
	if !strings.Contains(out, "added uuid1 to uuidroom3 (through the server") {
		t.Fatalf("members add said %q", out)
	}
	if m := u1.nextOfType("member"); m["chatroomId"] != "uuidroom3" || m["event"] != "joined" {
		t.Fatalf("member frame %v", m)
	}
	u2 := mustDial(t, s, "uuid2")
	u2.send(sendMsg("uuid2", "uuidroom3", "welcome"))
	u2.nextOfType("ack")
	if m := u1.nextOfType("message"); m["chatroomId"] != "uuidroom3" {
		t.Fatalf("got %v", m)
	}
	out = s.tool("members", "remove", "--room", "uuidroom3", "--user", "uuid1", "--addr", s.addr)
	if !strings.Contains(out, "removed uuid1 from uuidroom3") {
		t.Fatalf("members remove said %q", out)
	}
	if status, _ := httpJSON(t, "GET", "http://"+s.addr+"/v1/rooms/uuidroom3/messages?after=0", "uuid1", nil); status != 403 {
		t.Fatalf("removed member reads the room: %d", status)
	}
}

// TestReadStateOverRealSockets: bob online, three messages pushed, no
// markRead, disconnect: unread stays 3 (delivery never moves lastRead);
// alice sees bob's receipt live and in GET .../receipts; bob gets member
// frames on add and remove; a sync including a stale room answers the
// others; syncDone ends the WebSocket sync.
func TestReadStateOverRealSockets(t *testing.T) {
	t.Parallel()
	s := mustStart(t, "--admins", "admin")
	base := "http://" + s.addr
	alice := mustDial(t, s, "uuid1")
	bob := mustDial(t, s, "uuid2")
	for i := 1; i <= 3; i++ {
		alice.send(sendMsg("uuid1", "uuidroom2", fmt.Sprint("unread ", i)))
		alice.nextOfType("ack")
		bob.nextOfType("message")
	}
	bob.conn.Close(websocket.StatusNormalClosure, "background, then offline")
	waitFor(t, "bob's delivered cursor", func() bool { return delivered(t, s, "uuid2", "uuidroom2") == float64(3) })
	_, body := httpJSON(t, "GET", base+"/v1/rooms", "uuid2", nil)
	if r := roomOf(t, body, "uuidroom2"); r["unread"] != float64(3) || r["lastRead"] != float64(0) || r["head"] != float64(3) {
		t.Fatalf("after the disconnect: %v, want 3 unread", r)
	}

	// Bob back: he reads, alice sees the receipt live and in the list.
	bob = mustDial(t, s, "uuid2")
	bob.send(map[string]any{"action": "markRead", "chatroomId": "uuidroom2", "index": 2})
	if c := bob.nextOfType("cursor"); c["lastRead"] != float64(2) {
		t.Fatalf("cursor %v", c)
	}
	if r := alice.nextOfType("receipt"); r["chatroomId"] != "uuidroom2" || r["userId"] != "uuid2" || r["lastRead"] != float64(2) {
		t.Fatalf("receipt %v", r)
	}
	_, rc := httpJSON(t, "GET", base+"/v1/rooms/uuidroom2/receipts", "uuid1", nil)
	if list := rc["receipts"].([]any); len(list) != 1 || list[0].(map[string]any)["userId"] != "uuid2" || list[0].(map[string]any)["lastRead"] != float64(2) {
		t.Fatalf("receipts %v", rc)
	}

	// Membership: bob is added to uuidroom1, gets it, is removed, gets nothing more.
	if status, b := httpJSON(t, "POST", base+"/v1/rooms/uuidroom1/members", "admin", strings.NewReader(`{"userId":"uuid2"}`)); status != 200 {
		t.Fatalf("add: %d %v", status, b)
	}
	if m := bob.nextOfType("member"); m["chatroomId"] != "uuidroom1" || m["userId"] != "uuid2" || m["event"] != "joined" {
		t.Fatalf("member frame %v", m)
	}
	if m := alice.nextOfType("member"); m["event"] != "joined" {
		t.Fatalf("alice's member frame %v", m)
	}
	alice.send(sendMsg("uuid1", "uuidroom1", "welcome"))
	alice.nextOfType("ack")
	if m := bob.nextOfType("message"); m["chatroomId"] != "uuidroom1" {
		t.Fatalf("bob got %v", m)
	}
	if status, b := httpJSON(t, "DELETE", base+"/v1/rooms/uuidroom1/members/uuid2", "admin", nil); status != 200 {
		t.Fatalf("remove: %d %v", status, b)
	}
	if m := bob.nextOfType("member"); m["chatroomId"] != "uuidroom1" || m["event"] != "left" {
		t.Fatalf("member frame %v", m)
	}
	alice.nextOfType("member")
	alice.send(sendMsg("uuid1", "uuidroom1", "after you left"))
	alice.nextOfType("ack")

	// A sync naming the room bob just left answers his rooms and ends.
	bob.send(`{"action":"sync","cursors":{"uuidroom1":1,"uuidroom2":3}}`)
	var got []string
	for {
		f := bob.next()
		if f["type"] == "message" {
			t.Fatalf("sync pushed %v: nothing was missed", f)
		}
		got = append(got, fmt.Sprint(f["type"], " ", f["chatroomId"], " ", f["error"] != nil))
		if f["type"] == "syncDone" || len(got) > 5 {
			break
		}
	}
	if want := "[synced uuidroom1 true synced uuidroom2 false synced uuidroom3 false syncDone <nil> false]"; fmt.Sprint(got) != want {
		t.Fatalf("sync frames %v, want %s", got, want)
	}
	bob.expectNone()
	// Over HTTP: 200, the stale room carries the error.
	status, sb := httpJSON(t, "GET", base+"/v1/sync?after=uuidroom1:0", "uuid2", nil)
	if e, _ := roomOf(t, sb, "uuidroom1")["error"].(map[string]any); status != 200 || e["code"] != "not_member" || roomOf(t, sb, "uuidroom2")["head"] != float64(3) {
		t.Fatalf("HTTP sync with a stale room: %d %v", status, sb)
	}
}

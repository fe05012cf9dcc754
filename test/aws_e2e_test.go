package test

// The README's scenarios against the AWS runtime (see aws_stack_test.go):
// the same semantics as the local binary's tests, through API Gateway
// events, the Management API and DynamoDB.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
)

func TestAWSSeedScenario(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")

	// uuidroom1 reaches only uuid1 (the sender, acked), uuidroom3 only uuid2.
	if i := mustSend(t, u1, "uuidroom1", "only uuid1 sees this"); i != 1 {
		t.Fatalf("index %d", i)
	}
	u2.ExpectNone()
	mustSend(t, u2, "uuidroom3", "only uuid2 sees this")
	u1.ExpectNone()

	// uuidroom2 reaches both.
	i := mustSend(t, u1, "uuidroom2", "both see this")
	mustMessage(t, u2, "uuidroom2", "both see this", i)
	i = mustSend(t, u2, "uuidroom2", "and this")
	mustMessage(t, u1, "uuidroom2", "and this", i)
	u1.ExpectNone()
	u2.ExpectNone()

	// A member of neither room cannot send to it; nobody hears about it.
	u1.Send(sendFrame("uuidroom3", "intruder", "x-1"))
	if e := u1.NextOfType("error"); e["code"] != tripsense.ENOTMEMBER {
		t.Fatalf("error %v", e)
	}
	u2.ExpectNone()

	// A retried send (same clientMsgId) returns the original index and is
	// not pushed twice.
	u1.Send(sendFrame("uuidroom2", "both see this", clientMsgID("both see this")))
	if ack := u1.NextOfType("ack"); ack["index"] != float64(1) || ack["duplicate"] != true {
		t.Fatalf("retry ack %v", ack)
	}
	u2.ExpectNone()

	// A ping on the named route and a markRead.
	u2.Send(`{"action":"markRead","chatroomId":"uuidroom2","index":2}`)
	if c := u2.NextOfType("cursor"); c["lastRead"] != float64(2) {
		t.Fatalf("cursor %v", c)
	}
}

func TestAWSBadInputKeepsConnectionUsable(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	u1 := s.dial("uuid1")
	cases := []struct{ name, frame, code string }{
		{"malformed JSON", `{"action":`, tripsense.EINVALID},
		{"not an object", `[1,2,3]`, tripsense.EINVALID},
		{"no action", `{"chatroomId":"uuidroom1"}`, tripsense.EINVALID},
		{"unknown action", `{"action":"dance"}`, tripsense.EUNKNOWNACTION},
		{"action of the wrong type", `{"action":42}`, tripsense.EINVALID},
		{"missing fields", `{"action":"sendMessage","chatroomId":"uuidroom1"}`, tripsense.EINVALID},
		{"someone else's userId", `{"action":"sendMessage","userId":"uuid2","chatroomId":"uuidroom1","chatMessage":"x","messageType":"text message"}`, tripsense.EFORBIDDEN},
		{"bad room id", `{"action":"sendMessage","chatroomId":"no spaces","chatMessage":"x","messageType":"text message"}`, tripsense.EINVALID},
		{"message too long", sendFrame("uuidroom1", strings.Repeat("x", tripsense.MaxChatMessageBytes+1), "big-1"), tripsense.ETOOLARGE},
		{"markRead without index", `{"action":"markRead","chatroomId":"uuidroom1"}`, tripsense.EINVALID},
		{"markRead not a member", `{"action":"markRead","chatroomId":"uuidroom3","index":1}`, tripsense.ENOTMEMBER},
	}
	for _, tc := range cases {
		u1.Send(tc.frame)
		e := u1.NextOfType("error")
		if e["code"] != tc.code {
			t.Errorf("%s: error %v, want code %s", tc.name, e, tc.code)
		}
	}
	// A sync naming a foreign room fails that room only, then ends.
	u1.Send(`{"action":"sync","cursors":{"uuidroom3":0}}`)
	var frames []string
	for {
		f := u1.Next()
		frames = append(frames, fmt.Sprint(f["type"], " ", f["chatroomId"], " ", f["error"] != nil))
		if f["type"] == "syncDone" {
			break
		}
		if len(frames) > 10 {
			t.Fatalf("no syncDone: %v", frames)
		}
	}
	equalJSON(t, "sync with a foreign cursor", frames, []string{
		"synced uuidroom1 false", "synced uuidroom2 false", "synced uuidroom3 true", "syncDone <nil> false"})
	// Still usable: a ping and a real message.
	u1.Send(`{"action":"ping"}`)
	u1.NextOfType("pong")
	if i := mustSend(t, u1, "uuidroom1", "still here"); i != 1 {
		t.Fatalf("index %d: a bad frame stored something", i)
	}
	if _, err := s.presence.Get(context.Background(), u1.ID); err != nil {
		t.Fatalf("connection dropped after bad input: %v", err)
	}
}

func TestAWSOfflineSync(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	u2.Close() // uuid2 goes offline; $disconnect has run

	var want []string
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf("while you were away %d", i)
		if idx := mustSend(t, u1, "uuidroom2", body); idx != int64(i) {
			t.Fatalf("index %d, want %d", idx, i)
		}
		want = append(want, body)
	}
	for i := 1; i <= 3; i++ {
		mustSend(t, u1, "uuidroom1", fmt.Sprintf("private %d", i))
	}
	u1.ExpectNone()

	u2 = s.dial("uuid2") // back online: nothing is pushed on connect
	u2.ExpectNone()

	tok := s.token("uuid2", false)
	status, body := s.http("GET", "/v1/sync", "", tok, "")
	if status != 200 {
		t.Fatalf("sync: %d %v", status, body)
	}
	if strings.Contains(string(jsonBytes(body)), "uuidroom1") || strings.Contains(string(jsonBytes(body)), "private") {
		t.Fatalf("sync leaked uuidroom1: %v", body)
	}
	var got []string
	for _, r := range body["rooms"].([]any) {
		r := r.(map[string]any)
		switch r["chatroomId"] {
		case "uuidroom2":
			if r["complete"] != true || r["head"] != float64(5) {
				t.Fatalf("uuidroom2 page %v", r)
			}
			for i, m := range r["messages"].([]any) {
				m := m.(map[string]any)
				if m["index"] != float64(i+1) || m["userId"] != "uuid1" {
					t.Fatalf("message %d: %v", i, m)
				}
				got = append(got, m["chatMessage"].(string))
			}
		case "uuidroom3":
			if msgs, _ := r["messages"].([]any); len(msgs) != 0 {
				t.Fatalf("uuidroom3 has %v", msgs)
			}
		default:
			t.Fatalf("unexpected room %v", r)
		}
	}
	equalJSON(t, "missed messages", got, want)

	if unread := roomUnread(t, s, tok, "uuidroom2"); unread != 5 {
		t.Fatalf("unread before the cursor: %d", unread)
	}
	if status, c := s.http("PUT", "/v1/rooms/uuidroom2/cursor", "", tok, `{"lastRead":5}`); status != 200 || c["lastRead"] != float64(5) {
		t.Fatalf("put cursor: %d %v", status, c)
	}
	if unread := roomUnread(t, s, tok, "uuidroom2"); unread != 0 {
		t.Fatalf("unread after the cursor: %d", unread)
	}
	// Not a member: 403, and nothing about the room.
	if status, e := s.http("GET", "/v1/rooms/uuidroom1/messages", "after=0", tok, ""); status != 403 {
		t.Fatalf("foreign history: %d %v", status, e)
	}
}

func roomUnread(t *testing.T, s *awsStack, tok, room string) int {
	t.Helper()
	status, body := s.http("GET", "/v1/rooms", "", tok, "")
	if status != 200 {
		t.Fatalf("rooms: %d %v", status, body)
	}
	for _, r := range body["rooms"].([]any) {
		if r := r.(map[string]any); r["chatroomId"] == room {
			return int(r["unread"].(float64))
		}
	}
	t.Fatalf("room %s not in %v", room, body)
	return 0
}

// TestAWSWebSocketSyncAndDeliveryCursor checks the delivery report: what a
// connection was really sent (fan-out or the sync action) becomes its read
// cursor on $disconnect, through Presence.Delivered after each successful
// PostToConnection.
func TestAWSWebSocketSyncAndDeliveryCursor(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	u2.Close()
	for i := 1; i <= 4; i++ {
		mustSend(t, u1, "uuidroom2", fmt.Sprintf("m%d", i))
	}
	u2 = s.dial("uuid2")
	u2.Send(`{"action":"sync"}`)
	if got := batchIndexes(t, u2.NextOfType("messages"), "uuidroom2"); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("sync batch %v, want [1 2 3 4]", got)
	}
	synced := map[string]any{}
	for range 2 { // uuidroom2 and uuidroom3, in room order
		f := u2.NextOfType("synced")
		synced[f["chatroomId"].(string)] = f["head"]
	}
	equalJSON(t, "synced heads", synced, map[string]any{"uuidroom2": 4.0, "uuidroom3": 0.0})
	if f := u2.Next(); f["type"] != "syncDone" {
		t.Fatalf("after the last synced: %v, want syncDone", f)
	}
	i := mustSend(t, u1, "uuidroom2", "live")
	mustMessage(t, u2, "uuidroom2", "live", i)
	u2.Close()
	cur, err := s.store.Cursor(context.Background(), "uuid2", "", "uuidroom2")
	if err != nil || cur.LastSeen != 5 {
		t.Fatalf("cursor after disconnect: %+v %v, want 5 (everything delivered)", cur, err)
	}
}

// TestAWSGoneConnectionIsRemoved: a connection API Gateway answers 410 for
// is removed by the fan-out that met it, and a message that did not reach
// it never counts as seen.
func TestAWSGoneConnectionIsRemoved(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	ctx := context.Background()
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	i := mustSend(t, u1, "uuidroom2", "delivered")
	mustMessage(t, u2, "uuidroom2", "delivered", i)
	u1.ExpectNone() // every invocation done: the delivery report is stored

	if !s.gw.Vanish(u2.ID) { // gone without a $disconnect
		t.Fatal("unknown connection")
	}
	_, _, gonesBefore := s.gw.Stats()
	mustSend(t, u1, "uuidroom2", "lost")
	u1.ExpectNone()
	if _, _, gones := s.gw.Stats(); gones != gonesBefore+1 {
		t.Fatalf("410s: %d, want one", gones-gonesBefore)
	}
	if _, err := s.presence.Get(ctx, u2.ID); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("gone connection still registered: %v", err)
	}
	members, err := s.presence.RoomConnections(ctx, "uuidroom2")
	if err != nil || len(members) != 1 || members[0].ConnID != u1.ID {
		t.Fatalf("uuidroom2 receivers %v, %v", members, err)
	}
	if cur, _ := s.store.Cursor(ctx, "uuid2", "", "uuidroom2"); cur.LastSeen != 1 {
		t.Fatalf("cursor %d, want 1: the lost message must not count as seen", cur.LastSeen)
	}
	// The next message is not posted to the gone connection again.
	mustSend(t, u1, "uuidroom2", "after")
	u1.ExpectNone()
	if _, _, gones := s.gw.Stats(); gones != gonesBefore+1 {
		t.Fatalf("posted to the removed connection again")
	}
}

// TestAWSMembershipReachesOnlineConnections: a member added or removed
// through the HTTP API function starts or stops receiving the room on the
// connection it already has (presence in DynamoDB is shared by both
// functions).
func TestAWSMembershipReachesOnlineConnections(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	admin := s.token("ops", true)
	if status, b := s.http("POST", "/v1/rooms/uuidroom1/members", "", s.token("uuid1", false), `{"userId":"uuid2"}`); status != 403 {
		t.Fatalf("non-admin add: %d %v", status, b)
	}
	if status, b := s.http("POST", "/v1/rooms/uuidroom1/members", "", admin, `{"userId":"uuid2"}`); status != 200 {
		t.Fatalf("add: %d %v", status, b)
	}
	// Membership changes are entries of the room's log: index, by, createTime.
	entry := func(f map[string]any) map[string]any { delete(f, "createTime"); return f }
	joined := map[string]any{"type": "member", "chatroomId": "uuidroom1", "index": 1, "userId": "uuid2", "event": "joined", "by": "ops"}
	equalJSON(t, "uuid2's member frame", entry(u2.NextOfType("member")), joined)
	equalJSON(t, "uuid1's member frame", entry(u1.NextOfType("member")), joined)
	i := mustSend(t, u1, "uuidroom1", "welcome")
	mustMessage(t, u2, "uuidroom1", "welcome", i)

	if status, b := s.http("DELETE", "/v1/rooms/uuidroom1/members/uuid2", "", admin, ""); status != 200 {
		t.Fatalf("remove: %d %v", status, b)
	}
	left := map[string]any{"type": "member", "chatroomId": "uuidroom1", "index": 3, "userId": "uuid2", "event": "left", "by": "ops"}
	equalJSON(t, "uuid2's member frame", entry(u2.NextOfType("member")), left)
	equalJSON(t, "uuid1's member frame", entry(u1.NextOfType("member")), left)
	mustSend(t, u1, "uuidroom1", "bye")
	u2.ExpectNone()
	u2.Send(sendFrame("uuidroom1", "let me back", "x-2"))
	if e := u2.NextOfType("error"); e["code"] != tripsense.ENOTMEMBER {
		t.Fatalf("error %v", e)
	}
}

// TestAWSReplaceDeletesOlderConnection: the duplicate-connection policy
// "replace" deletes the older connection through the Management API. API
// Gateway cannot send ws.CloseReplaced (4000): the client sees a normal
// close and must reconnect only if it is still the one in use.
func TestAWSReplaceDeletesOlderConnection(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	old := s.dial("uuid1")
	cur := s.dial("uuid1")
	closed, why := old.Closed()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("older connection not closed")
	}
	if st := websocket.CloseStatus(why()); st == 4000 {
		t.Fatalf("close code %d: API Gateway cannot send custom codes; the harness must not either", st)
	}
	old.WaitGone()
	conns, err := s.presence.UserConnections(context.Background(), "uuid1")
	if err != nil || len(conns) != 1 || conns[0].ID != cur.ID {
		t.Fatalf("uuid1 connections %v, %v", conns, err)
	}
	mustSend(t, cur, "uuidroom1", "from the new connection")
}

// TestAWSRefusedConnect: $connect answers are the handshake's status.
func TestAWSRefusedConnect(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	// (No query at all is accepted in token mode: first-frame
	// authentication, test/aws_browser_test.go.)
	for _, q := range []string{"userId=uuid1", "token=not.a.jwt", "token="} {
		if _, status, err := gatewayDialStatus(s, q); err == nil || status != 401 {
			t.Errorf("?%s: status %d, %v; want 401", q, status, err)
		}
	}
}

// TestAWSReceipts: a read cursor moved over the WebSocket (markRead) or
// the HTTP API (PUT .../cursor) reaches the room's other online members as
// a receipt frame, and GET .../receipts lists it; the Lambdas push receipts
// at once (no coalescing across invocations).
func TestAWSReceipts(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	for i := 1; i <= 3; i++ {
		mustSend(t, u1, "uuidroom2", fmt.Sprintf("r%d", i))
	}
	for i := 1; i <= 3; i++ {
		u2.NextOfType("message")
	}
	u2.Send(`{"action":"markRead","chatroomId":"uuidroom2","index":2}`)
	if c := u2.NextOfType("cursor"); c["lastRead"] != float64(2) {
		t.Fatalf("cursor %v", c)
	}
	equalJSON(t, "uuid1's receipt", u1.NextOfType("receipt"), map[string]any{"type": "receipt", "chatroomId": "uuidroom2", "userId": "uuid2", "lastRead": 2.0})
	if status, c := s.http("PUT", "/v1/rooms/uuidroom2/cursor", "", s.token("uuid1", false), `{"lastRead":3}`); status != 200 || c["lastRead"] != float64(3) {
		t.Fatalf("put cursor: %d %v", status, c)
	}
	equalJSON(t, "uuid2's receipt", u2.NextOfType("receipt"), map[string]any{"type": "receipt", "chatroomId": "uuidroom2", "userId": "uuid1", "lastRead": 3.0})
	status, body := s.http("GET", "/v1/rooms/uuidroom2/receipts", "", s.token("uuid2", false), "")
	if status != 200 {
		t.Fatalf("receipts: %d %v", status, body)
	}
	var got []string
	for _, r := range body["receipts"].([]any) {
		r := r.(map[string]any)
		got = append(got, fmt.Sprint(r["userId"], ":", r["lastRead"]))
	}
	equalJSON(t, "receipts", got, []string{"uuid1:3", "uuid2:2"})
	if status, _ := s.http("GET", "/v1/rooms/uuidroom1/receipts", "", s.token("uuid2", false), ""); status != 403 {
		t.Fatalf("receipts of a foreign room: %d", status)
	}
}

// TestAWSThrottledPostsAreRetried: posts beyond API Gateway's rate answer
// 429 LimitExceededException; the pusher retries them with backoff, and a
// throttled connection is never taken for gone.
func TestAWSThrottledPostsAreRetried(t *testing.T) {
	t.Parallel()
	// One token, one more every 50 ms: the fan-out post and the ack post of
	// one send come back to back, and the five sends go out at once, so
	// posts are throttled whatever the machine's speed (a token per 25 ms
	// and a burst of 2 let sequential sends through unthrottled when a
	// round trip took longer than that).
	s := newAWSStackWith(t, func(o *gateway.Options) { o.PostRate, o.PostBurst = 20, 1 })
	// Enough attempts that a post always gets a token within its 5 s
	// bound, however the jittered pauses fall.
	s.wsOptions = append(s.wsOptions, func(svc *ws.Service) { svc.Pusher.(*apigw.Pusher).MaxAttempts = 10 })
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	want := map[string]bool{}
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf("t%d", i)
		want[body] = true
		u1.Send(sendFrame("uuidroom2", body, clientMsgID(body)))
	}
	acks, got := map[string]bool{}, map[string]bool{}
	for range want { // frames of one connection may be answered in any order on AWS
		acks[u1.NextOfType("ack")["clientMsgId"].(string)] = true
		got[u2.NextOfType("message")["chatMessage"].(string)] = true
	}
	for body := range want {
		if !acks[clientMsgID(body)] || !got[body] {
			t.Fatalf("%s: acked %v, received %v", body, acks, got)
		}
	}
	if s.gw.Throttled() == 0 {
		t.Fatal("no post was throttled: the test does not exercise 429")
	}
	for _, c := range []*gateway.Client{u1, u2} {
		if _, err := s.presence.Get(context.Background(), c.ID); err != nil {
			t.Fatalf("throttled connection removed: %v", err)
		}
	}
	t.Logf("%d posts throttled and retried", s.gw.Throttled())
}

// TestAWSSyncFinishesInsideTheTimeout: a sync of a backlog that one post
// per message cannot push within the integration timeout (scaled down
// here with the post latency: 2 s and 10 ms a post, where AWS has 29 s and
// a few ms) still ends every room with a synced frame, so the client
// learns where to continue, and following next it gets every message once.
func TestAWSSyncFinishesInsideTheTimeout(t *testing.T) {
	t.Parallel()
	const missed = 600
	s := newAWSStackWith(t, func(o *gateway.Options) {
		o.InvokeTimeout, o.PostLatency = 2*time.Second, 10*time.Millisecond
	})
	ctx := context.Background()
	for i := 1; i <= missed; i++ {
		if _, _, err := s.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: fmt.Sprint("backlog ", i), Type: "text message", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	u2 := s.dial("uuid2")
	got := map[int64]bool{}
	cursor := int64(0)
	for syncs := 1; ; syncs++ {
		if syncs > 20 {
			t.Fatalf("not complete after %d syncs (have %d of %d)", syncs-1, len(got), missed)
		}
		u2.Send(fmt.Sprintf(`{"action":"sync","cursors":{"uuidroom2":%d}}`, cursor))
		var synced map[string]any
		for synced == nil {
			f := u2.Next()
			switch f["type"] {
			case "message": // one message a frame, as before batching
				got[int64(f["index"].(float64))] = true
			case "messages":
				for _, i := range batchIndexes(t, f, "uuidroom2") {
					if got[i] {
						t.Fatalf("message %d twice", i)
					}
					got[i] = true
				}
			case "synced":
				if f["chatroomId"] != "uuidroom2" {
					t.Fatalf("synced %v before uuidroom2's", f)
				}
				synced = f
			default:
				t.Fatalf("frame %v during the sync", f)
			}
		}
		if f := u2.NextOfType("synced"); f["chatroomId"] != "uuidroom3" {
			t.Fatalf("second synced %v", f)
		}
		if synced["complete"] == true {
			if err := s.gw.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d messages in %d syncs, %d posts in all", len(got), syncs, postsOf(s))
			break
		}
		next := int64(synced["next"].(float64))
		if next <= cursor || int64(len(got)) != next {
			t.Fatalf("next %d after cursor %d with %d messages received", next, cursor, len(got))
		}
		cursor = next
	}
	if len(got) != missed || s.gw.Timeouts() != 0 {
		t.Fatalf("%d of %d messages, %d invocations timed out", len(got), missed, s.gw.Timeouts())
	}
}

func postsOf(s *awsStack) int64 {
	p, _, _ := s.gw.Stats()
	return p
}

// TestAWSFrameLimits: behind API Gateway a message body within the AWS
// limit is stored however its frame is escaped, a body over it gets
// too_large on a connection that stays open, and only what the gateway
// itself refuses closes the connection: a frame over 32 KB (1009) and a
// binary frame (1003).
func TestAWSFrameLimits(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	u1 := s.dial("uuid1")
	// The worst case: every byte escaped as \u00XX by the client's encoder.
	worst := strings.Repeat("\x01", tripsense.MaxChatMessageBytesGateway)
	frame := sendFrame("uuidroom1", worst, "worst-1")
	if len(frame) <= 6*tripsense.MaxChatMessageBytesGateway {
		t.Fatalf("frame of %d bytes: the body was not escaped", len(frame))
	}
	u1.Send(frame)
	if ack := u1.NextOfType("ack"); ack["clientMsgId"] != "worst-1" {
		t.Fatalf("ack %v", ack)
	}
	u1.Send(sendFrame("uuidroom1", strings.Repeat("x", tripsense.MaxChatMessageBytesGateway+1), "long-1"))
	if e := u1.NextOfType("error"); e["code"] != tripsense.ETOOLARGE || e["clientMsgId"] != "long-1" {
		t.Fatalf("too long a message: %v, want too_large", e)
	}
	u1.Send(`{"action":"ping"}`)
	u1.NextOfType("pong")

	// What the gateway refuses closes the connection before the function.
	for _, tc := range []struct {
		name string
		send func(c *gateway.Client)
		code websocket.StatusCode
	}{
		{"frame over 32 KB", func(c *gateway.Client) {
			c.Send(`{"action":"ping","pad":"` + strings.Repeat("p", gateway.MaxFrameBytes) + `"}`)
		}, websocket.StatusMessageTooBig},
		{"binary frame", func(c *gateway.Client) { c.SendBinary([]byte(`{"action":"ping"}`)) }, websocket.StatusUnsupportedData},
	} {
		c := s.dial("uuid2")
		tc.send(c)
		closed, why := c.Closed()
		select {
		case <-closed:
		case <-time.After(gateway.Wait):
			t.Fatalf("%s: still open", tc.name)
		}
		if st := websocket.CloseStatus(why()); st != tc.code {
			t.Fatalf("%s: %v, want close %d", tc.name, why(), tc.code)
		}
		c.WaitGone()
	}
}

// TestAWSAuthFrameRefreshesTheToken: on the AWS runtime, an auth frame with
// a fresh token of the connection's user moves the connection's expiry
// (every record of it): past the first token's exp its frames are still
// handled and it still receives its rooms. A token of another user is
// refused and changes nothing.
func TestAWSAuthFrameRefreshesTheToken(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	first, err := s.tokens.Mint("uuid1", 2*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.tokens.Authenticate(context.Background(), tripsense.Credentials{Token: first})
	if err != nil {
		t.Fatal(err)
	}
	u1 := gateway.Dial(t, s.gw, "token="+first)
	u2 := s.dial("uuid2")

	u1.Send(`{"action":"auth","token":"` + s.token("uuid2", false) + `"}`)
	if e := u1.NextOfType("error"); e["code"] != tripsense.EFORBIDDEN || e["action"] != "auth" {
		t.Fatalf("another user's token: %v", e)
	}
	u1.Send(`{"action":"auth","token":"` + s.token("uuid1", false) + `"}`)
	a := u1.NextOfType("authed")
	if a["userId"] != "uuid1" || time.Until(time.Unix(int64(a["exp"].(float64)), 0)) < 59*time.Minute {
		t.Fatalf("authed %v", a)
	}
	// Wait for the first token's exp to pass: until then the connection
	// would work without the refresh too.
	<-time.After(time.Until(p.Expires) + 1500*time.Millisecond)
	u1.Send(`{"action":"ping"}`)
	u1.NextOfType("pong")
	i := mustSend(t, u2, "uuidroom2", "after the refresh")
	mustMessage(t, u1, "uuidroom2", "after the refresh", i)
}

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
	if c := u2.NextOfType("cursor"); c["lastSeen"] != float64(2) {
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
		{"frame too long", `{"action":"ping","pad":"` + strings.Repeat("p", tripsense.MaxFrameBytes) + `"}`, tripsense.ETOOLARGE},
		{"markRead without index", `{"action":"markRead","chatroomId":"uuidroom1"}`, tripsense.EINVALID},
		{"markRead not a member", `{"action":"markRead","chatroomId":"uuidroom3","index":1}`, tripsense.ENOTMEMBER},
		{"sync with a foreign cursor", `{"action":"sync","cursors":{"uuidroom3":0}}`, tripsense.ENOTMEMBER},
	}
	for _, tc := range cases {
		u1.Send(tc.frame)
		e := u1.NextOfType("error")
		if e["code"] != tc.code {
			t.Errorf("%s: error %v, want code %s", tc.name, e, tc.code)
		}
	}
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
	if status, c := s.http("PUT", "/v1/rooms/uuidroom2/cursor", "", tok, `{"lastSeen":5}`); status != 200 || c["lastSeen"] != float64(5) {
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
	for i := 1; i <= 4; i++ {
		mustMessage(t, u2, "uuidroom2", fmt.Sprintf("m%d", i), int64(i))
	}
	synced := map[string]any{}
	for range 2 { // uuidroom2 and uuidroom3, in room order
		f := u2.NextOfType("synced")
		synced[f["chatroomId"].(string)] = f["head"]
	}
	equalJSON(t, "synced heads", synced, map[string]any{"uuidroom2": 4.0, "uuidroom3": 0.0})
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
	i := mustSend(t, u1, "uuidroom1", "welcome")
	mustMessage(t, u2, "uuidroom1", "welcome", i)

	if status, b := s.http("DELETE", "/v1/rooms/uuidroom1/members/uuid2", "", admin, ""); status != 200 {
		t.Fatalf("remove: %d %v", status, b)
	}
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
	for _, q := range []string{"", "userId=uuid1", "token=not.a.jwt"} {
		if _, status, err := gatewayDialStatus(s, q); err == nil || status != 401 {
			t.Errorf("?%s: status %d, %v; want 401", q, status, err)
		}
	}
}

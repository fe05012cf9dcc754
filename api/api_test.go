package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
)

// wireMessage has exactly the keys of a catch-up entry of a plain message:
// those of the WebSocket message frame with "kind" instead of "type".
type wireMessage struct {
	ChatroomID  string `json:"chatroomId"`
	Index       int64  `json:"index"`
	UserID      string `json:"userId"`
	Kind        string `json:"kind"`
	ChatMessage string `json:"chatMessage"`
	MessageType string `json:"messageType"`
	CreateTime  string `json:"createTime"`
	ClientMsgID string `json:"clientMsgId"`
}

type roomSync struct {
	ChatroomID string        `json:"chatroomId"`
	LastSeen   int64         `json:"lastSeen"`
	Head       int64         `json:"head"`
	Unread     int64         `json:"unread"`
	From       int64         `json:"from"`
	To         int64         `json:"to"`
	Messages   []wireMessage `json:"messages"`
	Complete   bool          `json:"complete"`
	Next       *int64        `json:"next"`
}

type historyPage struct {
	ChatroomID string        `json:"chatroomId"`
	Head       int64         `json:"head"`
	Messages   []wireMessage `json:"messages"`
	HasMore    bool          `json:"hasMore"`
	Next       *int64        `json:"next"`
}

type roomSummary struct {
	ChatroomID string `json:"chatroomId"`
	Head       int64  `json:"head"`
	LastRead   int64  `json:"lastRead"`
	Unread     int64  `json:"unread"`
}

// strict decodes b into v, failing on unknown keys or trailing data.
func strict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("trailing data in %s", b)
	}
}

func msgIndexes(ms []wireMessage) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Index)
	}
	return out
}

func sameInts(a []int64, b ...int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func ptr(v int64) *int64 { return &v }

func eqPtr(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func checkRoomSync(t *testing.T, got roomSync, room string, lastSeen, head, from, to int64, complete bool, next *int64) {
	t.Helper()
	if got.ChatroomID != room || got.LastSeen != lastSeen || got.Head != head || got.Unread != head-lastSeen ||
		got.From != from || got.To != to || got.Complete != complete || !eqPtr(got.Next, next) {
		t.Fatalf("got %+v, want room %s lastSeen %d head %d from %d to %d complete %v next %v", got, room, lastSeen, head, from, to, complete, next)
	}
	var want []int64
	for i := from; i <= to; i++ {
		want = append(want, i)
	}
	if !sameInts(msgIndexes(got.Messages), want...) {
		t.Fatalf("messages %v, want %v", msgIndexes(got.Messages), want)
	}
	for _, m := range got.Messages {
		if m.ChatroomID != room || m.UserID != "uuid2" || m.ChatMessage != "hello" || m.MessageType != "text message" || len(m.CreateTime) != 24 {
			t.Fatalf("message %+v", m)
		}
	}
}

const (
	u1    = "X-User-Id"
	jsonT = "Content-Type"
	appJS = "application/json"
)

func TestRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		method, path string
		body         string
		header       []string
		status       int
		code         string                   // error code for error statuses
		check        func(*testing.T, []byte) // for successes
	}{
		// GET /v1/sync
		{name: "sync with stored cursors", method: "GET", path: "/v1/sync", header: []string{u1, "uuid1"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var r struct{ Rooms []roomSync }
				strict(t, b, &r)
				if len(r.Rooms) != 2 {
					t.Fatalf("rooms: %s", b)
				}
				checkRoomSync(t, r.Rooms[0], "uuidroom1", 0, 5, 1, 5, true, nil)
				checkRoomSync(t, r.Rooms[1], "uuidroom2", 0, 3, 1, 3, true, nil)
			}},
		{name: "sync with client cursors and a limit", method: "GET", path: "/v1/sync?after=uuidroom1:2&limit=2", header: []string{u1, "uuid1"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var r struct{ Rooms []roomSync }
				strict(t, b, &r)
				checkRoomSync(t, r.Rooms[0], "uuidroom1", 2, 5, 3, 4, false, ptr(4))
				checkRoomSync(t, r.Rooms[1], "uuidroom2", 0, 3, 1, 2, false, ptr(2))
			}},
		{name: "sync with userId query", method: "GET", path: "/v1/sync?userId=uuid2&after=uuidroom3:4,uuidroom2:9", status: 200,
			check: func(t *testing.T, b []byte) {
				var r struct{ Rooms []roomSync }
				strict(t, b, &r)
				checkRoomSync(t, r.Rooms[0], "uuidroom2", 3, 3, 4, 3, true, nil)
				checkRoomSync(t, r.Rooms[1], "uuidroom3", 4, 4, 5, 4, true, nil)
			}},
		{name: "sync of a user with no rooms", method: "GET", path: "/v1/sync", header: []string{u1, "loner"}, status: 200,
			check: func(t *testing.T, b []byte) {
				if string(b) != "{\"rooms\":[]}\n" {
					t.Fatalf("body %s", b)
				}
			}},
		{name: "sync cursor of a foreign room", method: "GET", path: "/v1/sync?after=uuidroom3:0,uuidroom1:5", header: []string{u1, "uuid1"}, status: 200,
			check: func(t *testing.T, b []byte) {
				// The stale room fails alone; the user's rooms are answered.
				if !bytes.Contains(b, []byte(`{"chatroomId":"uuidroom3","error":{"code":"not_member","message":"not a member of room uuidroom3"}}`)) ||
					!bytes.Contains(b, []byte(`{"chatroomId":"uuidroom1","lastSeen":5,"head":5,`)) || !bytes.Contains(b, []byte(`{"chatroomId":"uuidroom2","lastSeen":0,"head":3,`)) {
					t.Fatalf("body %s", b)
				}
			}},
		{name: "sync malformed after", method: "GET", path: "/v1/sync?after=uuidroom1:x", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "sync duplicate room in after", method: "GET", path: "/v1/sync?after=uuidroom1:1,uuidroom1:2", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "sync after twice", method: "GET", path: "/v1/sync?after=uuidroom1:1&after=uuidroom2:1", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "sync limit 0", method: "GET", path: "/v1/sync?limit=0", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "sync limit over max", method: "GET", path: "/v1/sync?limit=1001", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "sync limit not a number", method: "GET", path: "/v1/sync?limit=ten", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "sync malformed query", method: "GET", path: "/v1/sync?after=%zz", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},

		// identity
		{name: "no identity", method: "GET", path: "/v1/sync", status: 401, code: "unauthorized"},
		{name: "invalid user id", method: "GET", path: "/v1/rooms", header: []string{u1, "uuid1 OR 1=1"}, status: 401, code: "unauthorized"},
		{name: "header and query disagree", method: "GET", path: "/v1/rooms?userId=uuid2", header: []string{u1, "uuid1"}, status: 401, code: "unauthorized"},
		{name: "header twice", method: "GET", path: "/v1/rooms", header: []string{u1, "uuid1", u1, "uuid2"}, status: 401, code: "unauthorized"},
		{name: "query twice", method: "GET", path: "/v1/rooms?userId=uuid1&userId=uuid2", status: 401, code: "unauthorized"},
		{name: "header and query agree", method: "GET", path: "/v1/rooms?userId=uuid1", header: []string{u1, "uuid1"}, status: 200},
		{name: "forged bearer token", method: "GET", path: "/v1/rooms", header: []string{"Authorization", "Bearer forged"}, status: 401, code: "unauthorized"},
		{name: "not a bearer token", method: "GET", path: "/v1/rooms", header: []string{"Authorization", "Basic dXNlcjpwdw=="}, status: 401, code: "unauthorized"},
		{name: "empty bearer token", method: "GET", path: "/v1/rooms", header: []string{"Authorization", "Bearer "}, status: 401, code: "unauthorized"},
		{name: "valid bearer token", method: "GET", path: "/v1/rooms", header: []string{"Authorization", "bearer good-token"}, status: 200,
			check: func(t *testing.T, b []byte) {
				if string(b) != "{\"rooms\":[]}\n" {
					t.Fatalf("body %s", b)
				}
			}},
		{name: "authenticator fails", method: "GET", path: "/v1/rooms", header: []string{u1, "authdown"}, status: 500, code: "internal"},

		// GET /v1/rooms
		{name: "rooms", method: "GET", path: "/v1/rooms", header: []string{u1, "uuid2"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var r struct{ Rooms []roomSummary }
				strict(t, b, &r)
				want := []roomSummary{{"uuidroom2", 3, 0, 3}, {"uuidroom3", 4, 0, 4}}
				if len(r.Rooms) != 2 || r.Rooms[0] != want[0] || r.Rooms[1] != want[1] {
					t.Fatalf("rooms %+v", r.Rooms)
				}
			}},

		// GET /v1/rooms/{room}/messages
		{name: "messages after", method: "GET", path: "/v1/rooms/uuidroom1/messages?after=1&limit=2", header: []string{u1, "uuid1"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var p historyPage
				strict(t, b, &p)
				if p.ChatroomID != "uuidroom1" || p.Head != 5 || !sameInts(msgIndexes(p.Messages), 2, 3) || !p.HasMore || !eqPtr(p.Next, ptr(3)) {
					t.Fatalf("page %s", b)
				}
			}},
		{name: "messages after 0", method: "GET", path: "/v1/rooms/uuidroom2/messages?after=0", header: []string{u1, "uuid1"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var p historyPage
				strict(t, b, &p)
				if !sameInts(msgIndexes(p.Messages), 1, 2, 3) || p.HasMore || p.Next != nil {
					t.Fatalf("page %s", b)
				}
			}},
		{name: "messages before", method: "GET", path: "/v1/rooms/uuidroom1/messages?before=4&limit=2", header: []string{u1, "uuid1"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var p historyPage
				strict(t, b, &p)
				if !sameInts(msgIndexes(p.Messages), 2, 3) || !p.HasMore || !eqPtr(p.Next, ptr(2)) {
					t.Fatalf("page %s", b)
				}
			}},
		{name: "messages newest page", method: "GET", path: "/v1/rooms/uuidroom1/messages?limit=2", header: []string{u1, "uuid1"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var p historyPage
				strict(t, b, &p)
				if !sameInts(msgIndexes(p.Messages), 4, 5) || !p.HasMore || !eqPtr(p.Next, ptr(4)) {
					t.Fatalf("page %s", b)
				}
			}},
		{name: "messages after and before", method: "GET", path: "/v1/rooms/uuidroom1/messages?after=1&before=4", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "messages before 0", method: "GET", path: "/v1/rooms/uuidroom1/messages?before=0", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "messages negative after", method: "GET", path: "/v1/rooms/uuidroom1/messages?after=-1", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "messages huge after", method: "GET", path: "/v1/rooms/uuidroom1/messages?after=99999999999999999999", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "messages bad limit", method: "GET", path: "/v1/rooms/uuidroom1/messages?limit=-5", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "messages invalid room id", method: "GET", path: "/v1/rooms/bad%20room/messages", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "messages escaped slash in room id", method: "GET", path: "/v1/rooms/a%2Fb/messages", header: []string{u1, "uuid1"}, status: 400, code: "bad_request"},
		{name: "messages non-member", method: "GET", path: "/v1/rooms/uuidroom3/messages?after=0", header: []string{u1, "uuid1"}, status: 403, code: "not_member"},
		{name: "messages no identity", method: "GET", path: "/v1/rooms/uuidroom1/messages", status: 401, code: "unauthorized"},

		// PUT /v1/rooms/{room}/cursor
		{name: "cursor", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 200,
			check: func(t *testing.T, b []byte) {
				var c struct {
					UserID    string `json:"userId"`
					Room      string `json:"chatroomId"`
					LastRead  int64  `json:"lastRead"`
					UpdatedAt string `json:"updatedAt"`
				}
				strict(t, b, &c)
				if c.UserID != "uuid1" || c.Room != "uuidroom1" || c.LastRead != 2 || len(c.UpdatedAt) != 24 {
					t.Fatalf("cursor %s", b)
				}
			}},
		{name: "cursor clamped to head", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":500}`, header: []string{u1, "uuid1", jsonT, "application/json; charset=utf-8"}, status: 200,
			check: func(t *testing.T, b []byte) {
				if !bytes.Contains(b, []byte(`"lastRead":5,`)) {
					t.Fatalf("cursor %s", b)
				}
			}},
		{name: "cursor non-member", method: "PUT", path: "/v1/rooms/uuidroom3/cursor", body: `{"lastRead":2}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 403, code: "not_member"},
		{name: "cursor unknown field", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2,"extra":1}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor trailing data", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2}{"lastRead":3}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor trailing garbage", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2} x`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor empty body", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor missing lastRead", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor null", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `null`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor array", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `[1]`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor negative", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":-1}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor fraction", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":1.5}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor string", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":"2"}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor malformed", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor truncated", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "cursor too large", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2` + strings.Repeat(" ", 20<<10) + `}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 413, code: "too_large"},
		{name: "cursor too large trailing", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2}` + strings.Repeat(" ", 20<<10) + `x`, header: []string{u1, "uuid1", jsonT, appJS}, status: 413, code: "too_large"},
		{name: "cursor form content type", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2}`, header: []string{u1, "uuid1", jsonT, "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type"},
		{name: "cursor no content type", method: "PUT", path: "/v1/rooms/uuidroom1/cursor", body: `{"lastRead":2}`, header: []string{u1, "uuid1"}, status: 415, code: "unsupported_media_type"},
		{name: "cursor invalid room id", method: "PUT", path: "/v1/rooms/x%20y/cursor", body: `{"lastRead":2}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 400, code: "bad_request"},

		// members (admins only)
		{name: "add member as admin", method: "POST", path: "/v1/rooms/uuidroom3/members", body: `{"userId":"uuid1"}`, header: []string{u1, "admin", jsonT, appJS}, status: 200,
			check: func(t *testing.T, b []byte) {
				if string(b) != "{\"chatroomId\":\"uuidroom3\",\"userId\":\"uuid1\",\"member\":true}\n" {
					t.Fatalf("body %s", b)
				}
			}},
		{name: "add member as non-admin", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"uuid1"}`, header: []string{u1, "uuid1", jsonT, appJS}, status: 403, code: "forbidden"},
		{name: "add member anonymously", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"uuid1"}`, status: 401, code: "unauthorized"},
		{name: "add member invalid user", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"a b"}`, header: []string{u1, "admin", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "add member missing user", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{}`, header: []string{u1, "admin", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "add member unknown field", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"u","admin":true}`, header: []string{u1, "admin", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "add member wrong type", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":7}`, header: []string{u1, "admin", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "add member invalid room", method: "POST", path: "/v1/rooms/%2A/members", body: `{"userId":"u"}`, header: []string{u1, "admin", jsonT, appJS}, status: 400, code: "bad_request"},
		{name: "add member conflict", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"conflict"}`, header: []string{u1, "admin", jsonT, appJS}, status: 409, code: "conflict"},
		{name: "add member unprocessable", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"unprocessable"}`, header: []string{u1, "admin", jsonT, appJS}, status: 422, code: "unprocessable"},
		{name: "add member rate limited", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"ratelimited"}`, header: []string{u1, "admin", jsonT, appJS}, status: 429, code: "rate_limited"},
		{name: "add member not found", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"notfound"}`, header: []string{u1, "admin", jsonT, appJS}, status: 404, code: "not_found"},
		{name: "add member internal", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"broken"}`, header: []string{u1, "admin", jsonT, appJS}, status: 500, code: "internal"},
		{name: "add member unknown code", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"weird"}`, header: []string{u1, "admin", jsonT, appJS}, status: 500, code: "internal"},
		{name: "add member panics", method: "POST", path: "/v1/rooms/uuidroom1/members", body: `{"userId":"panic"}`, header: []string{u1, "admin", jsonT, appJS}, status: 500, code: "internal"},
		{name: "remove member as admin", method: "DELETE", path: "/v1/rooms/uuidroom2/members/uuid1", header: []string{u1, "admin"}, status: 200,
			check: func(t *testing.T, b []byte) {
				if string(b) != "{\"chatroomId\":\"uuidroom2\",\"userId\":\"uuid1\",\"member\":false}\n" {
					t.Fatalf("body %s", b)
				}
			}},
		{name: "remove member as non-admin", method: "DELETE", path: "/v1/rooms/uuidroom2/members/uuid1", header: []string{u1, "uuid2"}, status: 403, code: "forbidden"},
		{name: "remove member invalid user", method: "DELETE", path: "/v1/rooms/uuidroom2/members/a%20b", header: []string{u1, "admin"}, status: 400, code: "bad_request"},
		{name: "remove member internal", method: "DELETE", path: "/v1/rooms/uuidroom2/members/broken", header: []string{u1, "admin"}, status: 500, code: "internal"},
		{name: "erase user as admin", method: "DELETE", path: "/v1/users/uuid2", header: []string{u1, "admin"}, status: 200,
			check: func(t *testing.T, b []byte) {
				var got struct {
					UserID string            `json:"userId"`
					Erased tripsense.Erasure `json:"erased"`
				}
				if err := json.Unmarshal(b, &got); err != nil || got.UserID != "uuid2" || got.Erased.Messages == 0 || got.Erased.Memberships != 2 {
					t.Fatalf("body %s (%v)", b, err)
				}
			}},
		{name: "erase user as non-admin", method: "DELETE", path: "/v1/users/uuid2", header: []string{u1, "uuid1"}, status: 403, code: "forbidden"},
		{name: "erase user invalid id", method: "DELETE", path: "/v1/users/a%20b", header: []string{u1, "admin"}, status: 400, code: "bad_request"},
		{name: "erase user internal", method: "DELETE", path: "/v1/users/broken", header: []string{u1, "admin"}, status: 500, code: "internal"},

		// health and unknown routes
		{name: "healthz", method: "GET", path: "/healthz", status: 200,
			check: func(t *testing.T, b []byte) {
				if string(b) != "{\"status\":\"ok\"}\n" {
					t.Fatalf("body %s", b)
				}
			}},
		{name: "unknown route", method: "GET", path: "/v1/nope", header: []string{u1, "uuid1"}, status: 404, code: "not_found"},
		{name: "unknown route anonymously", method: "GET", path: "/v2/sync", status: 404, code: "not_found"},
		{name: "trailing slash", method: "GET", path: "/v1/rooms/", header: []string{u1, "uuid1"}, status: 404, code: "not_found"},
		{name: "wrong method", method: "DELETE", path: "/v1/sync", header: []string{u1, "uuid1"}, status: 405, code: "method_not_allowed"},
		{name: "wrong method on cursor", method: "GET", path: "/v1/rooms/uuidroom1/cursor", header: []string{u1, "uuid1"}, status: 405, code: "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := MustServer(t, nil)
			res := f.MustDo(t, tt.method, tt.path, tt.body, tt.header...)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if res.header.Get("X-Request-Id") == "" {
				t.Fatal("no X-Request-Id")
			}
			if bytes.Contains(res.body, []byte("secret-detail")) {
				t.Fatalf("internal detail leaked: %s", res.body)
			}
			if tt.status >= 400 {
				code, _, ok := errorOf(res.body)
				if !ok || code != tt.code {
					t.Fatalf("error body %s, want code %s", res.body, tt.code)
				}
				if tt.status == 401 && res.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
				return
			}
			if tt.check != nil {
				tt.check(t, res.body)
			}
		})
	}
}

func TestMethodNotAllowedListsAllowed(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	tests := []struct {
		method, path string
		allow        []string
	}{
		{"POST", "/v1/sync", []string{"GET"}},
		{"GET", "/v1/rooms/uuidroom1/members", []string{"POST"}},
		{"PUT", "/v1/rooms/uuidroom1/members/uuid2", []string{"DELETE"}},
		{"HEAD", "/healthz", []string{"GET"}},
	}
	for _, tt := range tests {
		res := f.MustDo(t, tt.method, tt.path, "", u1, "uuid1")
		if res.status != 405 || !sameStrings(res.header.Values("Allow"), tt.allow) {
			t.Fatalf("%s %s: status %d Allow %v, want 405 %v", tt.method, tt.path, res.status, res.header.Values("Allow"), tt.allow)
		}
	}
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNonMemberLearnsNothing checks that a room that exists (with messages)
// and one that does not give byte-identical answers to a non-member.
func TestNonMemberLearnsNothing(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	for _, tt := range []struct{ method, format, body string }{
		{"GET", "/v1/rooms/%s/messages?after=0", ""},
		{"GET", "/v1/rooms/%s/messages?before=3", ""},
		{"PUT", "/v1/rooms/%s/cursor", `{"lastRead":1}`},
	} {
		var bodies [2][]byte
		for i, room := range []string{"uuidroom3", "nosuchroom"} {
			res := f.MustDo(t, tt.method, strings.Replace(tt.format, "%s", room, 1), tt.body, u1, "uuid1", jsonT, appJS)
			if res.status != 403 {
				t.Fatalf("%s %s: status %d", tt.method, room, res.status)
			}
			bodies[i] = res.body
		}
		if !bytes.Equal(bodies[0], bodies[1]) || bytes.Contains(bodies[0], []byte("head")) {
			t.Fatalf("%s %s: %s vs %s", tt.method, tt.format, bodies[0], bodies[1])
		}
	}
}

func TestCursorNeverMovesBackwards(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	for _, step := range []struct {
		put, want int64
	}{{3, 3}, {1, 3}, {3, 3}, {4, 4}, {99, 5}, {0, 5}} {
		res := f.MustDo(t, "PUT", "/v1/rooms/uuidroom1/cursor", `{"lastRead":`+itoa(step.put)+`}`, u1, "uuid1", jsonT, appJS)
		var c struct {
			LastRead int64 `json:"lastRead"`
		}
		if err := json.Unmarshal(res.body, &c); err != nil || res.status != 200 || c.LastRead != step.want {
			t.Fatalf("put %d: %d %s, want lastRead %d", step.put, res.status, res.body, step.want)
		}
	}
	res := f.MustDo(t, "GET", "/v1/rooms", "", u1, "uuid1")
	if !bytes.Contains(res.body, []byte(`{"chatroomId":"uuidroom1","head":5,"lastRead":5,"unread":0}`)) {
		t.Fatalf("rooms after marking read: %s", res.body)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

// TestMembershipTakesEffect adds and removes uuid1 in uuidroom3 as admin
// and checks what uuid1 may read.
func TestMembershipTakesEffect(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	read := func() int {
		return f.MustDo(t, "GET", "/v1/rooms/uuidroom3/messages", "", u1, "uuid1").status
	}
	if st := read(); st != http.StatusForbidden {
		t.Fatalf("before add: %d", st)
	}
	for range 2 { // adding twice is fine
		if res := f.MustDo(t, "POST", "/v1/rooms/uuidroom3/members", `{"userId":"uuid1"}`, u1, "admin", jsonT, appJS); res.status != 200 {
			t.Fatalf("add: %d %s", res.status, res.body)
		}
	}
	if st := read(); st != http.StatusOK {
		t.Fatalf("after add: %d", st)
	}
	for range 2 { // removing twice is fine
		if res := f.MustDo(t, "DELETE", "/v1/rooms/uuidroom3/members/uuid1", "", u1, "admin"); res.status != 200 {
			t.Fatalf("remove: %d %s", res.status, res.body)
		}
	}
	if st := read(); st != http.StatusForbidden {
		t.Fatalf("after remove: %d", st)
	}
}

// TestSyncPagesToTheEnd follows next through 2,500 missed messages over
// HTTP and checks that each index arrives once.
func TestSyncPagesToTheEnd(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	for range 2500 - 5 {
		if _, _, err := f.st.Append(t.Context(), tripsenseMsg("uuidroom1")); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	cursor := int64(0)
	for calls := 0; calls < 10; calls++ {
		res := f.MustDo(t, "GET", "/v1/sync?limit=1000&after=uuidroom2:3,uuidroom1:"+itoa(cursor), "", u1, "uuid1")
		var r struct{ Rooms []roomSync }
		strict(t, res.body, &r)
		room := r.Rooms[0]
		got = append(got, msgIndexes(room.Messages)...)
		if room.Complete {
			break
		}
		cursor = *room.Next
	}
	if len(got) != 2500 {
		t.Fatalf("got %d messages", len(got))
	}
	for i, idx := range got {
		if idx != int64(i+1) {
			t.Fatalf("position %d has index %d", i, idx)
		}
	}
}

// TestReceipts: GET /v1/rooms/{room}/receipts lists the read cursors of the
// room's members for a member, and says not_member to anyone else.
func TestReceipts(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	res := f.MustDo(t, "GET", "/v1/rooms/uuidroom2/receipts", "", u1, "uuid1")
	if res.status != 200 || string(res.body) != "{\"chatroomId\":\"uuidroom2\",\"receipts\":[]}\n" {
		t.Fatalf("before any read: %d %s", res.status, res.body)
	}
	for _, put := range []struct{ user, body string }{{"uuid1", `{"lastRead":2}`}, {"uuid2", `{"lastRead":3}`}} {
		if res := f.MustDo(t, "PUT", "/v1/rooms/uuidroom2/cursor", put.body, u1, put.user, jsonT, appJS); res.status != 200 {
			t.Fatalf("PUT as %s: %d %s", put.user, res.status, res.body)
		}
	}
	res = f.MustDo(t, "GET", "/v1/rooms/uuidroom2/receipts", "", u1, "uuid2")
	var got struct {
		ChatroomID string `json:"chatroomId"`
		Receipts   []struct {
			UserID    string `json:"userId"`
			LastRead  int64  `json:"lastRead"`
			UpdatedAt string `json:"updatedAt"`
		} `json:"receipts"`
	}
	strict(t, res.body, &got)
	if res.status != 200 || got.ChatroomID != "uuidroom2" || len(got.Receipts) != 2 ||
		got.Receipts[0].UserID != "uuid1" || got.Receipts[0].LastRead != 2 || len(got.Receipts[0].UpdatedAt) != 24 ||
		got.Receipts[1].UserID != "uuid2" || got.Receipts[1].LastRead != 3 {
		t.Fatalf("receipts: %d %s", res.status, res.body)
	}
	for _, room := range []string{"uuidroom3", "nosuchroom"} {
		if res := f.MustDo(t, "GET", "/v1/rooms/"+room+"/receipts", "", u1, "uuid1"); res.status != 403 || !bytes.Contains(res.body, []byte(`"not_member"`)) {
			t.Fatalf("receipts of %s as a non-member: %d %s", room, res.status, res.body)
		}
	}
}

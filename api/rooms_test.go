package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRoomRoutes: a user creates a room with two members and lists them
// with roles; only the owner renames; alice posts over HTTP, a retry is a
// duplicate (200, the original index); every membership change and the
// rename are entries of the room's log, so the history page shows them.
func TestRoomRoutes(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	as := func(user string) []string { return []string{u1, user, jsonT, appJS} }
	res := f.MustDo(t, "POST", "/v1/rooms", `{"chatroomId":"trip","name":"Rome","members":["bob","carol"]}`, as("alice")...)
	if res.status != 201 || !strings.Contains(string(res.body), `"chatroomId":"trip","name":"Rome","createdBy":"alice","createdAt":"`) {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "POST", "/v1/rooms", `{"chatroomId":"trip","name":"again"}`, as("bob")...); res.status != 409 {
		t.Fatalf("create existing: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "POST", "/v1/rooms", `{"name":"x","owner":"bob"}`, as("bob")...); res.status != 400 {
		t.Fatalf("unknown field: %d %s", res.status, res.body)
	}
	res = f.MustDo(t, "POST", "/v1/rooms", `{"name":"generated"}`, as("bob")...)
	var gen struct{ ChatroomID string }
	if err := json.Unmarshal(res.body, &gen); res.status != 201 || err != nil || gen.ChatroomID == "" {
		t.Fatalf("generated: %d %s", res.status, res.body)
	}
	res = f.MustDo(t, "GET", "/v1/rooms/trip/members", "", u1, "carol")
	if want := `{"chatroomId":"trip","members":[{"userId":"alice","role":"owner"},{"userId":"bob","role":"member"},{"userId":"carol","role":"member"}]}`; res.status != 200 || strings.TrimSpace(string(res.body)) != want {
		t.Fatalf("members: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "GET", "/v1/rooms/trip/members", "", u1, "dave"); res.status != 403 {
		t.Fatalf("members as non-member: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "PATCH", "/v1/rooms/trip", `{"name":"mine"}`, as("bob")...); res.status != 403 {
		t.Fatalf("rename as member: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "PATCH", "/v1/rooms/trip", `{"name":"Rome 2027"}`, as("alice")...); res.status != 200 || !strings.Contains(string(res.body), `"name":"Rome 2027"`) {
		t.Fatalf("rename: %d %s", res.status, res.body)
	}
	send := `{"chatMessage":"hello","messageType":"text","clientMsgId":"m-1"}`
	res = f.MustDo(t, "POST", "/v1/rooms/trip/messages", send, as("alice")...)
	if res.status != 201 || !strings.Contains(string(res.body), `"chatroomId":"trip","index":5,"userId":"alice","createTime":"`) || !strings.Contains(string(res.body), `"duplicate":false`) {
		t.Fatalf("send: %d %s", res.status, res.body)
	}
	res = f.MustDo(t, "POST", "/v1/rooms/trip/messages", send, as("alice")...)
	if res.status != 200 || !strings.Contains(string(res.body), `"index":5,`) || !strings.Contains(string(res.body), `"duplicate":true`) {
		t.Fatalf("retry: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "POST", "/v1/rooms/trip/messages", send, as("dave")...); res.status != 403 {
		t.Fatalf("send as non-member: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "POST", "/v1/rooms/trip/messages", `{"messageType":"text"}`, as("alice")...); res.status != 400 {
		t.Fatalf("send without body: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "POST", "/v1/rooms/trip/messages", `{"chatMessage":"sys","messageType":"system"}`, as("admin")...); res.status != 201 {
		t.Fatalf("admin send: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "DELETE", "/v1/rooms/trip/members/carol", "", u1, "bob"); res.status != 403 {
		t.Fatalf("member removes another: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "DELETE", "/v1/rooms/trip/members/carol", "", u1, "carol"); res.status != 200 {
		t.Fatalf("leave: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "POST", "/v1/rooms/trip/members", `{"userId":"dave"}`, as("alice")...); res.status != 200 {
		t.Fatalf("owner adds: %d %s", res.status, res.body)
	}
	res = f.MustDo(t, "GET", "/v1/rooms/trip", "", u1, "dave")
	if res.status != 200 || !strings.Contains(string(res.body), `"head":8,"memberCount":3`) {
		t.Fatalf("room: %d %s", res.status, res.body)
	}
	res = f.MustDo(t, "GET", "/v1/sync", "", u1, "carol")
	if res.status != 200 || strings.Contains(string(res.body), `"trip"`) {
		t.Fatalf("carol left but syncs trip: %s", res.body)
	}
	res = f.MustDo(t, "GET", "/v1/sync", "", u1, "dave")
	for _, want := range []string{`"kind":"member","target"`, `"userId":"alice","kind":"member","event":"joined","by":"alice"`,
		`"kind":"rename","name":"Rome 2027"`, `"userId":"carol","kind":"member","event":"left","by":"carol"`, `"chatMessage":"hello"`} {
		if want == `"kind":"member","target"` {
			if strings.Contains(string(res.body), want) {
				t.Fatalf("member entries carry no target: %s", res.body)
			}
			continue
		}
		if !strings.Contains(string(res.body), want) {
			t.Fatalf("dave's catch-up lacks %s: %s", want, res.body)
		}
	}
}

package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/memory"
	"github.com/tripsense/tripsense/store/storetest"
	catchup "github.com/tripsense/tripsense/sync"
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

// TestRoomOwnerTransfer: the owner hands the room to a member (never to a
// non-member); the new owner manages it and the old one no longer does;
// an admin may hand it on too; the change is an entry of the log; a room
// without metadata has no owner to change.
func TestRoomOwnerTransfer(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	as := func(user string) []string { return []string{u1, user, jsonT, appJS} }
	if res := f.MustDo(t, "POST", "/v1/rooms", `{"chatroomId":"trip","name":"Rome","members":["bob"]}`, as("alice")...); res.status != 201 || !strings.Contains(string(res.body), `"owner":"alice"`) {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	for _, tc := range []struct {
		user, body string
		status     int
	}{
		{"alice", `{"owner":"dave"}`, 409},      // not a member
		{"bob", `{"owner":"bob"}`, 403},         // a member is not the owner
		{"alice", `{}`, 400},                    // nothing to change
		{"alice", `{"owner":"not an id"}`, 400}, // not a user id
		{"alice", `{"owner":"bob","extra":1}`, 400},
	} {
		if res := f.MustDo(t, "PATCH", "/v1/rooms/trip", tc.body, as(tc.user)...); res.status != tc.status {
			t.Fatalf("PATCH %s as %s: %d %s, want %d", tc.body, tc.user, res.status, res.body, tc.status)
		}
	}
	// All or nothing: a rename with a refused owner leaves the name.
	if res := f.MustDo(t, "PATCH", "/v1/rooms/trip", `{"name":"Paris","owner":"dave"}`, as("alice")...); res.status != 409 {
		t.Fatalf("rename and hand to a non-member: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "GET", "/v1/rooms/trip", "", u1, "alice"); !strings.Contains(string(res.body), `"name":"Rome"`) {
		t.Fatalf("after a refused rename and hand-over: %s", res.body)
	}
	res := f.MustDo(t, "PATCH", "/v1/rooms/trip", `{"owner":"bob"}`, as("alice")...)
	if res.status != 200 || !strings.Contains(string(res.body), `"createdBy":"alice"`) || !strings.Contains(string(res.body), `"owner":"bob"`) {
		t.Fatalf("transfer: %d %s", res.status, res.body)
	}
	res = f.MustDo(t, "GET", "/v1/rooms/trip/members", "", u1, "alice")
	if want := `{"chatroomId":"trip","members":[{"userId":"alice","role":"member"},{"userId":"bob","role":"owner"}]}`; res.status != 200 || strings.TrimSpace(string(res.body)) != want {
		t.Fatalf("members after the transfer: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "PATCH", "/v1/rooms/trip", `{"name":"mine"}`, as("alice")...); res.status != 403 {
		t.Fatalf("the old owner renames: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "PATCH", "/v1/rooms/trip", `{"name":"Rome 2027","owner":"bob"}`, as("bob")...); res.status != 200 || !strings.Contains(string(res.body), `"name":"Rome 2027"`) {
		t.Fatalf("the new owner renames: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "PATCH", "/v1/rooms/trip", `{"owner":"alice"}`, as("admin")...); res.status != 200 || !strings.Contains(string(res.body), `"owner":"alice"`) {
		t.Fatalf("an admin hands it back: %d %s", res.status, res.body)
	}
	if res := f.MustDo(t, "PATCH", "/v1/rooms/uuidroom2", `{"owner":"uuid1"}`, as("admin")...); res.status != 404 {
		t.Fatalf("a room without metadata: %d %s", res.status, res.body)
	}
	res = f.MustDo(t, "GET", "/v1/sync", "", u1, "bob")
	body := string(res.body)
	first := strings.Index(body, `"userId":"bob","kind":"member","event":"owner","by":"alice"`)
	second := strings.Index(body, `"userId":"alice","kind":"member","event":"owner","by":"admin"`)
	if res.status != 200 || first < 0 || second < first || strings.Count(body, `"event":"owner"`) != 2 {
		t.Fatalf("bob's catch-up lacks the two changes of owner, in order (a no-op transfer adds none): %s", body)
	}
}

type fakeOutbox struct{ st *memory.Store }

func (f fakeOutbox) OutboxList(ctx context.Context, limit int) ([]tripsense.OutboxEntry, error) {
	return f.st.OutboxList(ctx, limit)
}
func (f fakeOutbox) Replay(ctx context.Context, seq uint64) (int, error) {
	return f.st.OutboxReplay(ctx, seq, time.Now())
}

// TestWebhookRoutes: admins see the outbox (pending, failed, last error)
// and replay failed events; without webhooks the routes answer 404.
func TestWebhookRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memory.New()
	st.Outbox = true
	storetest.MustAppendNew(t, st, tripsense.NewMessage{Room: "r", UserID: "u", Body: "a", Type: "t"})
	storetest.MustAppendNew(t, st, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
	es, _ := st.OutboxList(ctx, 10)
	es[1].Failed, es[1].Attempts, es[1].LastError = true, 40, "the receiver answered 503 Service Unavailable"
	if err := st.OutboxUpdate(ctx, es[1]); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Sync: &catchup.Service{Store: st}, Members: members{st}, Reads: reads{st}, Auth: fakeAuth{}, Webhooks: fakeOutbox{st}}))
	t.Cleanup(srv.Close)
	do := func(method, path, user, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set(u1, user)
		if body != "" {
			req.Header.Set(jsonT, appJS)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := do("GET", "/v1/webhooks", "u", ""); code != 403 {
		t.Fatalf("non-admin: %d", code)
	}
	code, body := do("GET", "/v1/webhooks", "admin", "")
	if code != 200 || !strings.Contains(body, `"pending":1,"failed":1`) || !strings.Contains(body, `"id":"evt_r_2"`) || !strings.Contains(body, `"lastError":"the receiver answered 503`) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := do("POST", "/v1/webhooks/replay", "admin", `{}`); code != 200 || !strings.Contains(body, `"replayed":1`) {
		t.Fatalf("replay: %d %s", code, body)
	}
	if code, body := do("GET", "/v1/webhooks", "admin", ""); code != 200 || !strings.Contains(body, `"pending":2,"failed":0`) {
		t.Fatalf("after replay: %d %s", code, body)
	}
	f := MustServer(t, nil)
	if res := f.MustDo(t, "GET", "/v1/webhooks", "", u1, "admin"); res.status != 404 {
		t.Fatalf("without webhooks: %d %s", res.status, res.body)
	}
}

package test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// entriesOf returns the catch-up entries of room for user from a stored
// cursor (GET /v1/sync without client cursors).
func entriesOf(t *testing.T, s *server, user, room, after string) (map[string]any, []map[string]any) {
	t.Helper()
	url := "http://" + s.addr + "/v1/sync?limit=1000"
	if after != "" {
		url += "&after=" + room + ":" + after
	}
	status, body := httpJSON(t, "GET", url, user, nil)
	if status != 200 {
		t.Fatalf("sync: %d %v", status, body)
	}
	r := roomOf(t, body, room)
	var out []map[string]any
	for _, m := range r["messages"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return r, out
}

func historyOf(t *testing.T, s *server, user, room string) map[string]any {
	t.Helper()
	status, body := httpJSON(t, "GET", "http://"+s.addr+"/v1/rooms/"+room+"/messages?after=0", user, nil)
	if status != 200 {
		t.Fatalf("history: %d %v", status, body)
	}
	return body
}

// fileHolds reports whether the stopped server's data file holds text.
func fileHolds(t *testing.T, s *server, text string) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dataDir, "tripsense.db"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(data, []byte(text))
}

// The scenario on the single binary: alice sends, edits, reacts
// while bob is offline the whole time; bob's catch-up has the message, the
// edit and the reaction in order, his history the edited text with one
// reaction; a non-author edit is refused; alice deletes, history shows a
// tombstone, and after a compaction the deleted text is not in the file.
func TestLifecycleEndToEnd(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	alice := mustDial(t, s, "uuid1")
	draft, final := "first draft 8c1e", "final text 4d2a"
	alice.send(sendMsg("uuid1", "uuidroom2", draft))
	ack := alice.nextOfType("ack")
	idx := ack["index"].(float64)
	alice.send(map[string]any{"action": "editMessage", "chatroomId": "uuidroom2", "index": idx, "chatMessage": final, "clientMsgId": "edit-1"})
	if a := alice.nextOfType("ack"); a["index"] != idx+1 {
		t.Fatalf("edit ack %v", a)
	}
	alice.send(map[string]any{"action": "react", "chatroomId": "uuidroom2", "index": idx, "reaction": "👍"})
	alice.nextOfType("ack")

	_, entries := entriesOf(t, s, "uuid2", "uuidroom2", "")
	n := len(entries)
	if n < 3 {
		t.Fatalf("catch-up: %v", entries)
	}
	last := entries[n-3:]
	if last[0]["kind"] != "message" || last[0]["index"] != idx ||
		last[1]["kind"] != "edit" || last[1]["target"] != idx || last[1]["chatMessage"] != final ||
		last[2]["kind"] != "reaction" || last[2]["target"] != idx || last[2]["reaction"] != "👍" {
		t.Fatalf("catch-up entries: %v", last)
	}
	hist := historyOf(t, s, "uuid2", "uuidroom2")
	msgs := hist["messages"].([]any)
	m := msgs[len(msgs)-1].(map[string]any)
	if m["index"] != idx || m["chatMessage"] != final || m["edited"] != true || m["reactions"].(map[string]any)["👍"] != float64(1) {
		t.Fatalf("history: %v", m)
	}
	for _, e := range msgs {
		if k := e.(map[string]any)["kind"]; k != "message" {
			t.Fatalf("history holds an event: %v", e)
		}
	}

	bob := mustDial(t, s, "uuid2")
	bob.send(map[string]any{"action": "editMessage", "chatroomId": "uuidroom2", "index": idx, "chatMessage": "bob was here"})
	if e := bob.nextOfType("error"); e["code"] != "forbidden" {
		t.Fatalf("non-author edit: %v", e)
	}

	alice.send(map[string]any{"action": "deleteMessage", "chatroomId": "uuidroom2", "index": idx})
	alice.nextOfType("ack")
	if d := bob.nextOfType("delete"); d["target"] != idx {
		t.Fatalf("live delete frame: %v", d)
	}
	hist = historyOf(t, s, "uuid2", "uuidroom2")
	msgs = hist["messages"].([]any)
	m = msgs[len(msgs)-1].(map[string]any)
	if _, has := m["chatMessage"]; has || m["deleted"] != true || m["deletedBy"] != "uuid1" {
		t.Fatalf("tombstone: %v", m)
	}
	s.stop()
	s.tool("compact")
	for _, text := range []string{draft, final} {
		if fileHolds(t, s, text) {
			t.Fatalf("%q is still in the data file", text)
		}
	}
}

// A server with --retention answers a catch-up from a cursor older than the
// oldest kept index with truncated, never a silent gap.
func TestRetentionEndToEnd(t *testing.T) {
	t.Parallel()
	s := mustStart(t, "--retention", "1s")
	alice := mustDial(t, s, "uuid1")
	for range 3 {
		alice.send(sendMsg("uuid1", "uuidroom2", "soon gone"))
		alice.nextOfType("ack")
	}
	var r map[string]any
	waitFor(t, "the pruner to remove the old messages", func() bool {
		r, _ = entriesOf(t, s, "uuid2", "uuidroom2", "0")
		return r["truncated"] == true
	})
	if r["oldest"] != r["head"].(float64)+1 || len(r["messages"].([]any)) != 0 {
		t.Fatalf("truncated room: %v", r)
	}
	alice.send(sendMsg("uuid1", "uuidroom2", "fresh"))
	alice.nextOfType("ack")
	r, entries := entriesOf(t, s, "uuid2", "uuidroom2", "0")
	if r["truncated"] != true || len(entries) != 1 || entries[0]["chatMessage"] != "fresh" || entries[0]["index"] != r["oldest"] {
		t.Fatalf("after a new message: %v", r)
	}
	if h := historyOf(t, s, "uuid2", "uuidroom2"); h["truncated"] != true {
		t.Fatalf("history at the retention edge: %v", h)
	}
}

// Erasure leaves no body of the user: not in the API, not in the file.
func TestErasureEndToEnd(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	alice := mustDial(t, s, "uuid1")
	secret := "alice secret 9e9e"
	for _, room := range []string{"uuidroom1", "uuidroom2"} {
		alice.send(sendMsg("uuid1", room, secret))
		alice.nextOfType("ack")
	}
	bob := mustDial(t, s, "uuid2")
	bob.send(sendMsg("uuid2", "uuidroom2", "bob stays"))
	bob.nextOfType("ack")
	status, body := httpJSON(t, "DELETE", "http://"+s.addr+"/v1/users/uuid1", "uuid2", nil)
	if status != 403 {
		t.Fatalf("erasure by a non-admin: %d %v", status, body)
	}
	status, body = httpJSON(t, "DELETE", "http://"+s.addr+"/v1/users/uuid1", "admin", nil)
	erased, _ := body["erased"].(map[string]any)
	if status != 200 || erased["messages"] != float64(2) || erased["memberships"] != float64(2) || erased["connections"] != float64(1) {
		t.Fatalf("erasure: %d %v", status, body)
	}
	select {
	case <-alice.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the erased user's connection is still open")
	}
	status, body = httpJSON(t, "DELETE", "http://"+s.addr+"/v1/users/uuid1", "admin", nil)
	if erased, _ := body["erased"].(map[string]any); status != 200 || erased["messages"] != float64(0) || erased["memberships"] != float64(0) {
		t.Fatalf("second erasure: %d %v", status, body)
	}
	hist := historyOf(t, s, "uuid2", "uuidroom2")
	for _, e := range hist["messages"].([]any) {
		if m := e.(map[string]any); m["userId"] == "uuid1" && (m["deleted"] != true || m["chatMessage"] != nil) {
			t.Fatalf("an erased message: %v", m)
		}
	}
	if !strings.Contains(historyString(hist), "bob stays") {
		t.Fatalf("bob's message is gone: %v", hist)
	}
	if status, _ := httpJSON(t, "GET", "http://"+s.addr+"/v1/rooms/uuidroom1/messages", "uuid1", nil); status != 403 {
		t.Fatalf("the erased user is still a member: %d", status)
	}
	s.stop()
	s.tool("compact")
	if fileHolds(t, s, secret) {
		t.Fatalf("%q is still in the data file", secret)
	}
	if !fileHolds(t, s, "bob stays") {
		t.Fatal("compaction lost bob's message")
	}
}

func historyString(h map[string]any) string {
	var b strings.Builder
	for _, e := range h["messages"].([]any) {
		if s, ok := e.(map[string]any)["chatMessage"].(string); ok {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

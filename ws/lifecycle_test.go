package ws_test

import (
	"context"
	"testing"

	"github.com/tripsense/tripsense/ws"
)

// Edits, deletes and reactions are log entries: each gets the room's next
// index, an ack like a send's, and a live frame of its own type at the
// other online members; refusals store nothing.
func TestLifecycleActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	u2 := f.connect(t, "c2", "uuid2")

	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "first"))
	onlyFrame(t, f.rec.take("c1"), "ack")
	onlyFrame(t, f.rec.take("c2"), "message")

	f.send(t, u1, `{"action":"editMessage","chatroomId":"uuidroom2","index":1,"chatMessage":"first, edited","clientMsgId":"e-1"}`)
	if ack := onlyFrame(t, f.rec.take("c1"), "ack"); ack["index"] != float64(2) || ack["clientMsgId"] != "e-1" {
		t.Fatalf("edit ack = %v", ack)
	}
	if e := onlyFrame(t, f.rec.take("c2"), "edit"); e["index"] != float64(2) || e["target"] != float64(1) ||
		e["chatMessage"] != "first, edited" || e["userId"] != "uuid1" || e["chatroomId"] != "uuidroom2" || e["createTime"] == nil {
		t.Fatalf("edit frame = %v", e)
	}

	f.send(t, u2, `{"action":"react","chatroomId":"uuidroom2","index":1,"reaction":"👍"}`)
	onlyFrame(t, f.rec.take("c2"), "ack")
	if r := onlyFrame(t, f.rec.take("c1"), "reaction"); r["index"] != float64(3) || r["target"] != float64(1) || r["reaction"] != "👍" || r["remove"] != false {
		t.Fatalf("reaction frame = %v", r)
	}

	// Refusals: a non-author edit, a second identical reaction, a bad
	// reaction, a non-author delete, an event as a target, a non-member.
	for _, tc := range []struct {
		c     ws.Conn
		frame string
		code  string
	}{
		{u2, `{"action":"editMessage","chatroomId":"uuidroom2","index":1,"chatMessage":"not mine"}`, "forbidden"},
		{u2, `{"action":"react","chatroomId":"uuidroom2","index":1,"reaction":"👍"}`, "bad_request"},
		{u2, `{"action":"react","chatroomId":"uuidroom2","index":1,"reaction":"a b"}`, "bad_request"},
		{u2, `{"action":"deleteMessage","chatroomId":"uuidroom2","index":1}`, "forbidden"},
		{u1, `{"action":"editMessage","chatroomId":"uuidroom2","index":2,"chatMessage":"edit of an edit"}`, "bad_request"},
		{u1, `{"action":"deleteMessage","chatroomId":"uuidroom3","index":1}`, "not_member"},
		{u1, `{"action":"deleteMessage","chatroomId":"uuidroom2"}`, "bad_request"},
		{u1, `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"re","messageType":"t","replyTo":2}`, "bad_request"},
	} {
		f.send(t, tc.c, tc.frame)
		if e := onlyFrame(t, f.rec.take(tc.c.ID), "error"); e["code"] != tc.code {
			t.Fatalf("%s: error %v, want %s", tc.frame, e, tc.code)
		}
	}
	if got := f.rec.take("c1"); len(got) != 0 {
		t.Fatalf("a refusal was fanned out: %v", got)
	}
	if h, _ := f.store.Head(context.Background(), "uuidroom2"); h != 3 {
		t.Fatalf("refusals were stored: head %d", h)
	}

	f.send(t, u2, `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"re","messageType":"t","replyTo":1}`)
	onlyFrame(t, f.rec.take("c2"), "ack")
	if m := onlyFrame(t, f.rec.take("c1"), "message"); m["replyTo"] != float64(1) {
		t.Fatalf("reply frame = %v", m)
	}

	f.send(t, u1, `{"action":"deleteMessage","chatroomId":"uuidroom2","index":1}`)
	onlyFrame(t, f.rec.take("c1"), "ack")
	if d := onlyFrame(t, f.rec.take("c2"), "delete"); d["index"] != float64(5) || d["target"] != float64(1) {
		t.Fatalf("delete frame = %v", d)
	}
	msgs, _ := f.store.MessagesAfter(context.Background(), "uuidroom2", 0, 10)
	if !msgs[0].Deleted || msgs[0].Body != "" || msgs[1].Body != "" {
		t.Fatalf("bodies kept after the delete: %+v", msgs[:2])
	}
}

// An admin deletes another user's message; a plain member cannot.
func TestAdminDeletesAnyMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	u2 := f.connect(t, "c2", "uuid2")
	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "moderate me"))
	f.rec.take("c1")
	f.rec.take("c2")
	admin := u2
	admin.Admin = true
	f.send(t, admin, `{"action":"deleteMessage","chatroomId":"uuidroom2","index":1}`)
	onlyFrame(t, f.rec.take("c2"), "ack")
	if d := onlyFrame(t, f.rec.take("c1"), "delete"); d["userId"] != "uuid2" {
		t.Fatalf("delete frame = %v", d)
	}
}

// The sync action's batches carry events with their kind.
func TestSyncCarriesEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "hello"))
	f.send(t, u1, `{"action":"editMessage","chatroomId":"uuidroom2","index":1,"chatMessage":"hello!"}`)
	f.send(t, u1, `{"action":"react","chatroomId":"uuidroom2","index":1,"reaction":":+1:"}`)
	f.rec.take("c1")
	u2 := f.connect(t, "c2", "uuid2")
	f.send(t, u2, `{"action":"sync"}`)
	frames := f.rec.take("c2")
	if len(frames) == 0 || frames[0]["type"] != "messages" {
		t.Fatalf("frames = %v", frames)
	}
	entries := frames[0]["messages"].([]any)
	var kinds []any
	for _, e := range entries {
		kinds = append(kinds, e.(map[string]any)["kind"])
	}
	if len(kinds) != 3 || kinds[0] != "message" || kinds[1] != "edit" || kinds[2] != "reaction" {
		t.Fatalf("kinds = %v", kinds)
	}
}

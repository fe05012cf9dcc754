package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// recorder is a Pusher that records every frame per connection and reports
// deliveries to the presence, as a real runtime does once a frame is written.
type recorder struct {
	presence tripsense.Presence
	mu       sync.Mutex
	frames   map[string][]map[string]any
	closed   map[string]int
	gone     map[string]bool // pushes to these fail with ErrGone
	delay    time.Duration   // every push takes this long (a slow network)
	throttle map[string]int  // the next n pushes to these fail with ERATELIMITED
}

func newRecorder(p tripsense.Presence) *recorder {
	return &recorder{presence: p, frames: map[string][]map[string]any{}, closed: map[string]int{}, gone: map[string]bool{}, throttle: map[string]int{}}
}

func (r *recorder) Push(ctx context.Context, id string, out tripsense.Outbound) error {
	if r.delay > 0 {
		t := time.NewTimer(r.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	r.mu.Lock()
	gone := r.gone[id]
	throttled := r.throttle[id] > 0
	if throttled {
		r.throttle[id]--
	}
	r.mu.Unlock()
	if gone {
		return tripsense.ErrGone
	}
	if throttled {
		return tripsense.Errorf(tripsense.ERATELIMITED, "throttled")
	}
	var f map[string]any
	if err := json.Unmarshal(out.Data, &f); err != nil {
		return fmt.Errorf("pushed invalid JSON %s: %v", out.Data, err)
	}
	r.mu.Lock()
	r.frames[id] = append(r.frames[id], f)
	r.mu.Unlock()
	switch {
	case out.Index > 0 && out.Through:
		_ = r.presence.SeenThrough(ctx, id, out.Room, out.Index)
	case out.Index > 0:
		_ = r.presence.Delivered(ctx, id, out.Room, out.Index)
	}
	return nil
}

// unbatch replaces every messages frame of a sync by its messages, each
// as a message frame, so tests can count messages whatever the batching.
func unbatch(frames []map[string]any) []map[string]any {
	var out []map[string]any
	for _, f := range frames {
		if f["type"] != "messages" {
			out = append(out, f)
			continue
		}
		for _, m := range f["messages"].([]any) {
			// A copy, as the live frame of the entry: its kind is its type.
			mm := maps.Clone(m.(map[string]any))
			mm["type"] = mm["kind"]
			delete(mm, "kind")
			out = append(out, mm)
		}
	}
	return out
}

func (r *recorder) Close(_ context.Context, id string, code int, _ string) error {
	r.mu.Lock()
	r.closed[id] = code
	r.mu.Unlock()
	return nil
}

// take returns and forgets the frames pushed to id.
func (r *recorder) take(id string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.frames[id]
	delete(r.frames, id)
	return f
}

type fixture struct {
	svc   *ws.Service
	store *memory.Store
	hub   *local.Hub
	rec   *recorder
}

func newFixture(t *testing.T, policy ws.DuplicatePolicy) *fixture {
	t.Helper()
	st := memory.New()
	ctx := context.Background()
	for _, m := range [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}} {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	hub := local.NewHub(local.HubOptions{})
	rec := newRecorder(hub)
	svc := &ws.Service{Store: st, Presence: hub, Pusher: rec, Catchup: &catchup.Service{Store: st}, Policy: policy}
	return &fixture{svc: svc, store: st, hub: hub, rec: rec}
}

func (f *fixture) connect(t *testing.T, id, user string) ws.Conn {
	t.Helper()
	if err := f.svc.Connect(context.Background(), tripsense.Connection{ID: id, UserID: user, ConnectedAt: time.Now()}); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return ws.Conn{ID: id, UserID: user}
}

func (f *fixture) send(t *testing.T, c ws.Conn, frame string) {
	t.Helper()
	if err := f.svc.Handle(context.Background(), c, []byte(frame)); err != nil {
		t.Fatalf("handle %s: %v", frame, err)
	}
}

func sendFrame(user, room, body string) string {
	return fmt.Sprintf(`{"action":"sendMessage","userId":%q,"chatroomId":%q,"chatMessage":%q,"messageType":"text message"}`, user, room, body)
}

func onlyFrame(t *testing.T, frames []map[string]any, typ string) map[string]any {
	t.Helper()
	if len(frames) != 1 || frames[0]["type"] != typ {
		t.Fatalf("want one %s frame, got %v", typ, frames)
	}
	return frames[0]
}

func TestSeedScenario(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	u2 := f.connect(t, "c2", "uuid2")

	f.send(t, u1, sendFrame("uuid1", "uuidroom1", "room1 only"))
	ack := onlyFrame(t, f.rec.take("c1"), "ack")
	if ack["index"] != float64(1) || ack["chatroomId"] != "uuidroom1" {
		t.Fatalf("ack = %v", ack)
	}
	if got := f.rec.take("c2"); len(got) != 0 {
		t.Fatalf("uuid2 received a uuidroom1 message: %v", got)
	}

	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "both"))
	onlyFrame(t, f.rec.take("c1"), "ack")
	msg := onlyFrame(t, f.rec.take("c2"), "message")
	want := map[string]any{"type": "message", "chatroomId": "uuidroom2", "index": float64(1), "userId": "uuid1", "chatMessage": "both", "messageType": "text message"}
	for k, v := range want {
		if msg[k] != v {
			t.Fatalf("message[%s] = %v, want %v (%v)", k, msg[k], v, msg)
		}
	}
	if _, err := time.Parse(tripsense.TimeLayout, msg["createTime"].(string)); err != nil || !strings.HasSuffix(msg["createTime"].(string), "Z") {
		t.Fatalf("createTime %v: %v", msg["createTime"], err)
	}

	f.send(t, u2, sendFrame("uuid2", "uuidroom3", "room3 only"))
	onlyFrame(t, f.rec.take("c2"), "ack")
	if got := f.rec.take("c1"); len(got) != 0 {
		t.Fatalf("uuid1 received a uuidroom3 message: %v", got)
	}
}

func TestBadInputGetsErrorFrameAndStoresNothing(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", tripsense.MaxChatMessageBytes+1)
	huge := `{"action":"ping","pad":"` + strings.Repeat("y", tripsense.MaxFrameBytes) + `"}`
	cases := []struct {
		name, frame, code string
	}{
		{"malformed JSON", `{"action":`, "bad_request"},
		{"not an object", `[1,2]`, "bad_request"},
		{"no action", `{"chatroomId":"uuidroom1"}`, "bad_request"},
		{"unknown action", `{"action":"dance"}`, "unknown_action"},
		{"missing chatMessage", `{"action":"sendMessage","chatroomId":"uuidroom1","messageType":"text message"}`, "bad_request"},
		{"missing room", `{"action":"sendMessage","chatMessage":"x","messageType":"text message"}`, "bad_request"},
		{"missing messageType", `{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"x"}`, "bad_request"},
		{"empty body", `{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"","messageType":"t"}`, "bad_request"},
		{"wrong type", `{"action":"sendMessage","chatroomId":5,"chatMessage":"x","messageType":"t"}`, "bad_request"},
		{"bad room syntax", `{"action":"sendMessage","chatroomId":"room/../x","chatMessage":"x","messageType":"t"}`, "bad_request"},
		{"body too large", sendFrame("uuid1", "uuidroom1", big), "too_large"},
		{"frame too large", huge, "too_large"},
		{"forged userId", sendFrame("uuid2", "uuidroom1", "x"), "forbidden"},
		{"stranger's room", sendFrame("uuid1", "uuidroom3", "x"), "not_member"},
		{"unknown room", sendFrame("uuid1", "nosuchroom", "x"), "not_member"},
		{"markRead without index", `{"action":"markRead","chatroomId":"uuidroom1"}`, "bad_request"},
		{"markRead negative", `{"action":"markRead","chatroomId":"uuidroom1","index":-1}`, "bad_request"},
		{"markRead stranger", `{"action":"markRead","chatroomId":"uuidroom3","index":1}`, "not_member"},
		{"sync forged user", `{"action":"sync","userId":"uuid2"}`, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, ws.Replace)
			u1 := f.connect(t, "c1", "uuid1")
			f.connect(t, "c2", "uuid2")
			f.send(t, u1, tc.frame)
			e := onlyFrame(t, f.rec.take("c1"), "error")
			if e["code"] != tc.code || e["message"] == "" {
				t.Fatalf("error frame = %v, want code %s", e, tc.code)
			}
			for _, room := range []string{"uuidroom1", "uuidroom2", "uuidroom3"} {
				if h, _ := f.store.Head(context.Background(), room); h != 0 {
					t.Fatalf("%s head = %d after rejected frame", room, h)
				}
			}
			if got := f.rec.take("c2"); len(got) != 0 {
				t.Fatalf("other user got %v", got)
			}
			// The connection stays usable.
			f.send(t, u1, sendFrame("uuid1", "uuidroom2", "after the bad frame"))
			if ack := onlyFrame(t, f.rec.take("c1"), "ack"); ack["index"] != float64(1) {
				t.Fatalf("ack = %v", ack)
			}
		})
	}
}

func TestRetriedSendIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	f.connect(t, "c2", "uuid2")
	frame := `{"action":"sendMessage","userId":"uuid1","chatroomId":"uuidroom2","chatMessage":"once","messageType":"text message","clientMsgId":"c-1"}`
	f.send(t, u1, frame)
	first := onlyFrame(t, f.rec.take("c1"), "ack")
	onlyFrame(t, f.rec.take("c2"), "message")
	f.send(t, u1, frame)
	again := onlyFrame(t, f.rec.take("c1"), "ack")
	if again["index"] != first["index"] || again["clientMsgId"] != "c-1" || again["duplicate"] != true {
		t.Fatalf("retry ack = %v, first = %v", again, first)
	}
	if got := f.rec.take("c2"); len(got) != 0 {
		t.Fatalf("retry fanned out again: %v", got)
	}
	if h, _ := f.store.Head(context.Background(), "uuidroom2"); h != 1 {
		t.Fatalf("head = %d, want 1", h)
	}
}

func TestDisconnectCountsOnlyDeliveredMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	f.connect(t, "c2", "uuid2")
	for i := range 3 {
		f.send(t, u1, sendFrame("uuid1", "uuidroom2", fmt.Sprint("delivered ", i)))
	}
	f.rec.mu.Lock()
	f.rec.gone["c2"] = true // the next push fails: uuid2's phone vanished
	f.rec.mu.Unlock()
	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "never delivered"))
	if _, err := f.hub.Get(ctx, "c2"); err == nil {
		t.Fatal("gone connection is still registered")
	}
	cur, err := f.store.Cursor(ctx, "uuid2", "", "uuidroom2")
	if err != nil || cur.LastSeen != 3 {
		t.Fatalf("uuid2 cursor = %+v, %v; want lastSeen 3 (4 was not delivered)", cur, err)
	}
	// The sender's own messages count as seen.
	if err := f.svc.Disconnect(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid1", "", "uuidroom2"); cur.LastSeen != 4 {
		t.Fatalf("uuid1 cursor = %d, want 4", cur.LastSeen)
	}
	// A room the user never received anything in keeps its cursor.
	if cur, _ := f.store.Cursor(ctx, "uuid1", "", "uuidroom1"); cur.LastSeen != 0 {
		t.Fatalf("uuid1 uuidroom1 cursor = %d, want 0", cur.LastSeen)
	}
}

func TestOutOfOrderDeliveryDoesNotSkipAGap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	f.connect(t, "c2", "uuid2")
	for i := 1; i <= 3; i++ {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "m", Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.hub.Delivered(ctx, "c2", "uuidroom2", 1)
	_ = f.hub.Delivered(ctx, "c2", "uuidroom2", 3) // 2 raced the connect and never arrived
	if err := f.svc.Disconnect(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "", "uuidroom2"); cur.LastSeen != 1 {
		t.Fatalf("cursor = %d, want 1", cur.LastSeen)
	}
}

func TestDuplicateConnectionPolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("refuse", func(t *testing.T) {
		f := newFixture(t, ws.Refuse)
		f.connect(t, "a", "uuid1")
		err := f.svc.Connect(ctx, tripsense.Connection{ID: "b", UserID: "uuid1"})
		if tripsense.ErrorCode(err) != tripsense.ECONFLICT {
			t.Fatalf("second connect: %v, want conflict", err)
		}
		if err := f.svc.Disconnect(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		f.connect(t, "b", "uuid1") // once the old one is gone, reconnecting works
	})
	t.Run("replace", func(t *testing.T) {
		f := newFixture(t, ws.Replace)
		f.connect(t, "a", "uuid1")
		f.connect(t, "b", "uuid1")
		if f.rec.closed["a"] != ws.CloseReplaced {
			t.Fatalf("old connection closed with %d, want %d", f.rec.closed["a"], ws.CloseReplaced)
		}
		if _, err := f.hub.Get(ctx, "a"); err == nil {
			t.Fatal("replaced connection still registered")
		}
		u2 := f.connect(t, "c", "uuid2")
		f.send(t, u2, sendFrame("uuid2", "uuidroom2", "to the new one"))
		onlyFrame(t, f.rec.take("b"), "message")
		if got := f.rec.take("a"); len(got) != 0 {
			t.Fatalf("replaced connection got %v", got)
		}
	})
	t.Run("allow", func(t *testing.T) {
		f := newFixture(t, ws.Allow)
		f.connect(t, "a", "uuid1")
		f.connect(t, "b", "uuid1")
		u2 := f.connect(t, "c", "uuid2")
		f.send(t, u2, sendFrame("uuid2", "uuidroom2", "to both devices"))
		onlyFrame(t, f.rec.take("a"), "message")
		onlyFrame(t, f.rec.take("b"), "message")
	})
}

func TestSyncActionPushesMissedMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	for i := 1; i <= 450; i++ {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: fmt.Sprint(i), Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.AdvanceCursor(ctx, "uuid2", "", "uuidroom2", 5); err != nil {
		t.Fatal(err)
	}
	u2 := f.connect(t, "c2", "uuid2")
	f.send(t, u2, `{"action":"sync"}`)
	batched := f.rec.take("c2")
	frames := unbatch(batched)
	// 445 messages of uuidroom2, then synced frames for uuidroom2 and
	// uuidroom3 (sorted by room), then syncDone.
	if len(frames) != 445+2+1 || frames[447]["type"] != "syncDone" {
		t.Fatalf("got %d frames", len(frames))
	}
	for i := range 445 {
		if frames[i]["type"] != "message" || frames[i]["index"] != float64(6+i) {
			t.Fatalf("frame %d = %v", i, frames[i])
		}
	}
	if s := frames[445]; s["type"] != "synced" || s["chatroomId"] != "uuidroom2" || s["head"] != float64(450) || s["complete"] != true {
		t.Fatalf("synced = %v", s)
	}
	if s := frames[446]; s["type"] != "synced" || s["chatroomId"] != "uuidroom3" || s["head"] != float64(0) {
		t.Fatalf("synced = %v", s)
	}
	// Batched: every messages frame but the last of a page is full, none
	// is over the frame limit (the last three are synced, synced, syncDone).
	for i, b := range batched[:len(batched)-3] {
		n := len(b["messages"].([]any))
		data, _ := json.Marshal(b)
		if b["type"] != "messages" || b["chatroomId"] != "uuidroom2" || n < 2 || len(data) > ws.DefaultSyncFrameBytes {
			t.Fatalf("batch %d: %s with %d messages, %d bytes", i, b["type"], n, len(data))
		}
	}
	if len(batched) > 445/100+5 {
		t.Fatalf("%d frames for 445 small messages: not batched", len(batched))
	}
	// Client cursors win; a disconnect then records everything as seen.
	f.send(t, u2, `{"action":"sync","cursors":{"uuidroom2":449}}`)
	if got := unbatch(f.rec.take("c2")); len(got) != 4 || got[0]["index"] != float64(450) || got[3]["type"] != "syncDone" {
		t.Fatalf("sync with cursor: %v", got)
	}
	if err := f.svc.Disconnect(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "", "uuidroom2"); cur.LastSeen != 450 {
		t.Fatalf("cursor after sync+disconnect = %d, want 450", cur.LastSeen)
	}
}

func TestMarkReadAndPing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	f.send(t, u1, `{"action":"ping"}`)
	onlyFrame(t, f.rec.take("c1"), "pong")
	for range 3 {
		f.send(t, u1, sendFrame("uuid1", "uuidroom1", "x"))
	}
	f.rec.take("c1")
	f.send(t, u1, `{"action":"markRead","chatroomId":"uuidroom1","index":99}`)
	if c := onlyFrame(t, f.rec.take("c1"), "cursor"); c["lastRead"] != float64(3) || c["chatroomId"] != "uuidroom1" {
		t.Fatalf("cursor frame = %v, want lastRead clamped to 3", c)
	}
	f.send(t, u1, `{"action":"markRead","chatroomId":"uuidroom1","index":1}`)
	if c := onlyFrame(t, f.rec.take("c1"), "cursor"); c["lastRead"] != float64(3) {
		t.Fatalf("cursor moved backwards: %v", c)
	}
	if cur, _ := f.store.ReadCursor(ctx, "uuid1", "uuidroom1"); cur.LastRead != 3 {
		t.Fatalf("stored read cursor = %d", cur.LastRead)
	}
}

func TestMembershipChangesReachOnlineConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	f.connect(t, "c1", "uuid1")
	u2 := f.connect(t, "c2", "uuid2")
	// Membership changes are entries of the room's log: an index, who
	// made the change ("" for the system: the admin routes), createTime.
	joined := map[string]any{"type": "member", "chatroomId": "uuidroom3", "index": float64(1), "userId": "uuid1", "event": "joined", "by": ""}
	left := map[string]any{"type": "member", "chatroomId": "uuidroom3", "index": float64(3), "userId": "uuid1", "event": "left", "by": ""}
	if err := f.svc.AddMember(ctx, "uuidroom3", "uuid1"); err != nil {
		t.Fatal(err)
	}
	// The new member and the room's online members hear of it.
	for _, c := range []string{"c1", "c2"} {
		got := onlyFrame(t, f.rec.take(c), "member")
		delete(got, "createTime")
		if fmt.Sprint(got) != fmt.Sprint(joined) {
			t.Fatalf("%s got %v, want %v", c, got, joined)
		}
	}
	f.send(t, u2, sendFrame("uuid2", "uuidroom3", "welcome"))
	onlyFrame(t, f.rec.take("c1"), "message")
	f.rec.take("c2")
	if err := f.svc.RemoveMember(ctx, "uuidroom3", "uuid1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c1", "c2"} {
		got := onlyFrame(t, f.rec.take(c), "member")
		delete(got, "createTime")
		if fmt.Sprint(got) != fmt.Sprint(left) {
			t.Fatalf("%s got %v, want %v", c, got, left)
		}
	}
	f.send(t, u2, sendFrame("uuid2", "uuidroom3", "bye"))
	f.send(t, u2, `{"action":"markRead","chatroomId":"uuidroom3","index":4}`)
	if got := f.rec.take("c1"); len(got) != 0 {
		t.Fatalf("removed member got %v", got)
	}
}

// TestDeliveryNeverMovesTheReadCursor: uuid2 online, three messages pushed
// to it, no markRead, disconnect: the delivered cursor moves (catch-up
// starts after 3) but uuidroom2 still has 3 unread.
func TestDeliveryNeverMovesTheReadCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	f.connect(t, "c2", "uuid2")
	for range 3 {
		f.send(t, u1, sendFrame("uuid1", "uuidroom2", "x"))
	}
	if got := f.rec.take("c2"); len(got) != 3 {
		t.Fatalf("uuid2 got %v, want 3 messages", got)
	}
	if err := f.svc.Disconnect(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "", "uuidroom2"); cur.LastSeen != 3 {
		t.Fatalf("delivered cursor = %d, want 3", cur.LastSeen)
	}
	rooms, err := (&catchup.Service{Store: f.store}).Rooms(ctx, "uuid2")
	if err != nil {
		t.Fatal(err)
	}
	if rooms[0].Room != "uuidroom2" || rooms[0].LastRead != 0 || rooms[0].Unread != 3 {
		t.Fatalf("rooms %+v, want uuidroom2 with 3 unread", rooms)
	}
}

// TestSyncStaleRoomFailsAlone: a sync whose cursors name a room the user is
// not in answers every other room, gives the stale one a synced frame with
// the error, and ends with exactly one syncDone.
func TestSyncStaleRoomFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom1", UserID: "uuid1", Body: "m", Type: "t", CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	u1 := f.connect(t, "c1", "uuid1")
	f.send(t, u1, `{"action":"sync","cursors":{"uuidroom3":0,"uuidroom1":0}}`)
	var got []string
	for _, fr := range f.rec.take("c1") {
		s := fmt.Sprint(fr["type"], " ", fr["chatroomId"])
		if e, ok := fr["error"].(map[string]any); ok {
			s += " " + fmt.Sprint(e["code"])
		}
		got = append(got, s)
	}
	want := []string{"messages uuidroom1", "synced uuidroom1", "synced uuidroom2", "synced uuidroom3 not_member", "syncDone <nil>"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
}

// TestOwnSendDoesNotSkipAnUndeliveredLowerIndex: a concurrent sender's
// message (index 1) has not reached uuid2's connection when uuid2's own
// message gets index 2; a disconnect then must not count 1 as seen.
func TestOwnSendDoesNotSkipAnUndeliveredLowerIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	u2 := f.connect(t, "c2", "uuid2")
	if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "in flight", Type: "t", CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f.send(t, u2, sendFrame("uuid2", "uuidroom2", "mine"))
	if ack := onlyFrame(t, f.rec.take("c2"), "ack"); ack["index"] != float64(2) {
		t.Fatalf("ack = %v", ack)
	}
	if err := f.svc.Disconnect(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "", "uuidroom2"); cur.LastSeen != 0 {
		t.Fatalf("cursor = %d, want 0: message 1 never reached uuid2", cur.LastSeen)
	}
}

// TestSyncActionIsBounded: one sync pushes at most catchup.MaxSyncMessages;
// the room's synced frame then says where to continue.
func TestSyncActionIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	total := catchup.MaxSyncMessages + 150
	for i := 1; i <= total; i++ {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "m", Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	u2 := f.connect(t, "c2", "uuid2")
	f.send(t, u2, `{"action":"sync"}`)
	frames := unbatch(f.rec.take("c2"))
	if len(frames) != catchup.MaxSyncMessages+2+1 || frames[len(frames)-1]["type"] != "syncDone" {
		t.Fatalf("got %d frames, want %d messages, 2 synced and syncDone", len(frames), catchup.MaxSyncMessages)
	}
	s := frames[catchup.MaxSyncMessages]
	if s["type"] != "synced" || s["complete"] != false || s["next"] != float64(catchup.MaxSyncMessages) || s["head"] != float64(total) {
		t.Fatalf("synced = %v", s)
	}
	f.send(t, u2, fmt.Sprintf(`{"action":"sync","cursors":{"uuidroom2":%d}}`, catchup.MaxSyncMessages))
	frames = unbatch(f.rec.take("c2"))
	if len(frames) != 150+2+1 || frames[150]["complete"] != true {
		t.Fatalf("second sync: %d frames, synced %v", len(frames), frames[len(frames)-3])
	}
}

// TestMemberAddedBackWhileOnlineKeepsItsCursor: the watermark of a room a
// user joins while online starts at the user's stored cursor, so what it
// then receives live advances the cursor on disconnect.
func TestMemberAddedBackWhileOnlineKeepsItsCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	for range 3 {
		f.send(t, u1, sendFrame("uuid1", "uuidroom1", "before"))
	}
	if err := f.store.AddMember(ctx, "uuidroom1", "uuid2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AdvanceCursor(ctx, "uuid2", "", "uuidroom1", 3); err != nil {
		t.Fatal(err)
	}
	if err := f.store.RemoveMember(ctx, "uuidroom1", "uuid2"); err != nil {
		t.Fatal(err)
	}
	f.connect(t, "c2", "uuid2")
	if err := f.svc.AddMember(ctx, "uuidroom1", "uuid2"); err != nil {
		t.Fatal(err)
	}
	onlyFrame(t, f.rec.take("c2"), "member")
	f.send(t, u1, sendFrame("uuid1", "uuidroom1", "after"))
	onlyFrame(t, f.rec.take("c2"), "message")
	if err := f.svc.Disconnect(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	// 1..3 before, 4 its joined entry, 5 after.
	if cur, _ := f.store.Cursor(ctx, "uuid2", "", "uuidroom1"); cur.LastSeen != 5 {
		t.Fatalf("cursor = %d, want 5", cur.LastSeen)
	}
}

// TestSyncFromClientCursorsAdvancesTheStoredCursor: a sync from the
// client's own cursor counts what it delivers, so the disconnect records it.
func TestSyncFromClientCursorsAdvancesTheStoredCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	for range 20 {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "m", Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	u2 := f.connect(t, "c2", "uuid2")
	f.send(t, u2, `{"action":"sync","cursors":{"uuidroom2":10}}`)
	if frames := unbatch(f.rec.take("c2")); len(frames) != 10+2+1 {
		t.Fatalf("got %d frames", len(frames))
	}
	if err := f.svc.Disconnect(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "", "uuidroom2"); cur.LastSeen != 20 {
		t.Fatalf("cursor = %d, want 20", cur.LastSeen)
	}
}

// TestConcurrentConnectsUnderRefuseAdmitOne: the policy's check and the
// registration do not interleave between two connects of one user.
func TestConcurrentConnectsUnderRefuseAdmitOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Refuse)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.svc.Connect(context.Background(), tripsense.Connection{ID: fmt.Sprint("c", i), UserID: "uuid1"}); err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 1 {
		t.Fatalf("%d connections admitted under refuse", admitted)
	}
}

// removeRacer removes uuid1 from uuidroom1 in the middle of Connect: after
// Connect has read the rooms and before it registers.
type removeRacer struct {
	tripsense.Store
	svc   *ws.Service
	once  sync.Once
	fired bool
}

func (r *removeRacer) Cursors(ctx context.Context, user, device string) ([]tripsense.Cursor, error) {
	r.once.Do(func() {
		r.fired = true
		_ = r.svc.RemoveMember(ctx, "uuidroom1", "uuid1")
	})
	return r.Store.Cursors(ctx, user, device)
}

// TestMemberRemovedDuringConnectReceivesNothing: a removal racing a connect
// is not missed by the new connection.
func TestMemberRemovedDuringConnectReceivesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	racer := &removeRacer{Store: f.store, svc: f.svc}
	f.svc.Store = racer
	f.connect(t, "c1", "uuid1")
	if !racer.fired {
		t.Fatal("the removal did not run inside Connect")
	}
	members, _ := f.hub.RoomConnections(ctx, "uuidroom1")
	if len(members) != 0 {
		t.Fatalf("removed member still receives uuidroom1: %v", members)
	}
}

// TestSyncStopsBeforeTheDeadline: with pushes that cannot all finish before
// the frame's deadline (Lambda's timeout on AWS), the sync stops early and
// still ends every room with a synced frame saying where to continue, and
// the messages it pushed are exactly those up to next.
func TestSyncStopsBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	const total = 2000
	for i := 1; i <= total; i++ {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "m", Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	f.svc.SyncFrameBytes = 1 // one message per frame: 2000 pushes
	f.rec.delay = time.Millisecond
	u2 := f.connect(t, "c2", "uuid2")
	dctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancel()
	if err := f.svc.Handle(dctx, u2, []byte(`{"action":"sync","cursors":{"uuidroom2":0}}`)); err != nil {
		t.Fatalf("sync ran into its deadline: %v", err)
	}
	frames := unbatch(f.rec.take("c2"))
	n := len(frames) - 3 // two synced frames and syncDone follow the messages
	if n <= 0 || n >= total {
		t.Fatalf("%d messages pushed, want a part of %d", n, total)
	}
	for i := range n {
		if frames[i]["type"] != "message" || frames[i]["index"] != float64(i+1) {
			t.Fatalf("frame %d = %v", i, frames[i])
		}
	}
	if s := frames[n]; s["type"] != "synced" || s["chatroomId"] != "uuidroom2" || s["complete"] != false || s["next"] != float64(n) || s["head"] != float64(total) {
		t.Fatalf("synced = %v, want complete:false next:%d", s, n)
	}
	if s := frames[n+1]; s["type"] != "synced" || s["chatroomId"] != "uuidroom3" || s["complete"] != true {
		t.Fatalf("synced = %v", s)
	}
	if s := frames[n+2]; s["type"] != "syncDone" {
		t.Fatalf("last frame %v, want syncDone", s)
	}
	t.Logf("%d of %d messages before the deadline", n, total)
}

// TestUndecodedFrameEchoesItsActionAndClientMsgID: a frame that does not
// decode is answered with its action and clientMsgId when they can be read
// from it, so a client can match the error to its pending send or to its
// sync; nothing is echoed that the frame did not carry as a string.
func TestUndecodedFrameEchoesItsActionAndClientMsgID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		frame, action, id string
	}{
		{`{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":5,"messageType":"t","clientMsgId":"c-7"}`, "sendMessage", "c-7"},
		{`{"action":"sync","cursors":"spoiled"}`, "sync", ""},
		{`{"action":"markRead","chatroomId":"uuidroom1","index":"2","extra":1}`, "markRead", ""},
		{`{"clientMsgId":"c-8","action":"editMessage","chatroomId":"uuidroom1","index":"1","chatMessage":"x"}`, "editMessage", "c-8"},
		{`{"action":42,"clientMsgId":"c-9"}`, "", "c-9"},
		{`{"action":"sendMessage","clientMsgId":"has space"`, "sendMessage", ""}, // cut short; an invalid id is not echoed
		{`not json`, "", ""},
	}
	for _, tc := range cases {
		f := newFixture(t, ws.Replace)
		c := f.connect(t, "c1", "uuid1")
		f.send(t, c, tc.frame)
		e := onlyFrame(t, f.rec.take("c1"), "error")
		got := func(k string) string { s, _ := e[k].(string); return s }
		if e["code"] != "bad_request" || got("action") != tc.action || got("clientMsgId") != tc.id {
			t.Errorf("%s: error frame %v, want action %q and clientMsgId %q", tc.frame, e, tc.action, tc.id)
		}
		if h, _ := f.store.Head(context.Background(), "uuidroom1"); h != 0 {
			t.Errorf("%s: stored something (head %d)", tc.frame, h)
		}
	}
}

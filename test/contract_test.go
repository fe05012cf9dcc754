package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The WebSocket contract (docs/protocol.schema.json) is checked here against
// the frames the real binary sends in a session that produces every server
// frame type, against the frames the session sends, and against the
// server-frame examples of docs/protocol.md.

const schemaPath = "docs/protocol.schema.json"

// contract is the compiled schema: one validator per $defs entry asked for.
type contract struct {
	c   *jsonschema.Compiler
	doc map[string]any
}

func loadContract(t testing.TB) *contract {
	t.Helper()
	path := filepath.Join(repoRoot, schemaPath)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("urn:tripsense:ws-protocol", doc); err != nil {
		t.Fatal(err)
	}
	return &contract{c: c, doc: doc.(map[string]any)}
}

func (k *contract) schema(t testing.TB, def string) *jsonschema.Schema {
	t.Helper()
	s, err := k.c.Compile("urn:tripsense:ws-protocol#/$defs/" + def)
	if err != nil {
		t.Fatalf("compile %s: %v", def, err)
	}
	return s
}

// serverTypes lists the "type" constants of the server frames in the schema.
func (k *contract) serverTypes(t testing.TB) []string {
	t.Helper()
	defs := k.doc["$defs"].(map[string]any)
	var out []string
	for _, ref := range defs["serverFrame"].(map[string]any)["oneOf"].([]any) {
		name := strings.TrimPrefix(ref.(map[string]any)["$ref"].(string), "#/$defs/")
		typ := defs[name].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["const"].(string)
		out = append(out, typ)
	}
	sort.Strings(out)
	return out
}

func validate(s *jsonschema.Schema, frame []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// recorder is a WebSocket client that keeps every frame it gets, raw.
type recorder struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	frames chan []byte
	sent   *[][]byte
}

func dialRecorder(t *testing.T, s *server, user string, sent *[][]byte) *recorder {
	t.Helper()
	return dialRecorderURL(t, "ws://"+s.addr+"/ws?userId="+user, user, sent)
}

func dialRecorderURL(t *testing.T, url, user string, sent *[][]byte) *recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	conn.SetReadLimit(1 << 20)
	r := &recorder{t: t, name: user, conn: conn, frames: make(chan []byte, 1000), sent: sent}
	t.Cleanup(func() { conn.CloseNow() })
	go func() {
		defer close(r.frames)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			r.frames <- data
		}
	}()
	return r
}

func (r *recorder) send(frame string) {
	r.t.Helper()
	*r.sent = append(*r.sent, []byte(frame))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		r.t.Fatalf("%s write: %v", r.name, err)
	}
}

// until collects frames until one has the given type (and returns them all).
func (r *recorder) until(typ string) [][]byte {
	r.t.Helper()
	var got [][]byte
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-r.frames:
			if !ok {
				r.t.Fatalf("%s: connection closed waiting for %s (got %q)", r.name, typ, got)
			}
			got = append(got, f)
			var head struct{ Type string }
			_ = json.Unmarshal(f, &head)
			if head.Type == typ {
				return got
			}
		case <-deadline:
			r.t.Fatalf("%s: no %s frame within 10s (got %q)", r.name, typ, got)
		}
	}
}

// TestContractServerFrames records a session that makes the server send
// every frame type of the schema and validates each frame, and each frame
// the session sent, against it.
func TestContractServerFrames(t *testing.T) {
	k := loadContract(t)
	serverFrame, clientFrame := k.schema(t, "serverFrame"), k.schema(t, "clientFrame")
	// Burst 2 sends: the third send of one connection is rate_limited.
	s := mustStart(t, "--msg-rate", "0.01", "--msg-burst", "2")
	var sent [][]byte
	u1 := dialRecorder(t, s, "uuid1", &sent)
	u2 := dialRecorder(t, s, "uuid2", &sent)
	var recv [][]byte

	u2.send(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"Landing at 10:40","messageType":"text message","clientMsgId":"c-1"}`)
	recv = append(recv, u2.until("ack")...)
	recv = append(recv, u1.until("message")...)
	u2.send(`{"action":"sendMessage","userId":"uuid2","chatroomId":"uuidroom2","chatMessage":"Landing at 10:40","messageType":"text message","clientMsgId":"c-1"}`)
	recv = append(recv, u2.until("ack")...) // duplicate:true
	u2.send(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"third","messageType":"text message","clientMsgId":"c-3"}`)
	recv = append(recv, u2.until("error")...) // rate_limited with retryAfterMs
	u1.send(`{"action":"markRead","chatroomId":"uuidroom2","index":1}`)
	recv = append(recv, u1.until("cursor")...)
	recv = append(recv, u2.until("receipt")...)
	if code, body := httpJSON(t, "POST", "http://"+s.addr+"/v1/rooms/uuidroom3/members", "admin", strings.NewReader(`{"userId":"uuid1"}`)); code != 200 {
		t.Fatalf("add member: %d %v", code, body)
	}
	recv = append(recv, u1.until("member")...)
	recv = append(recv, u2.until("member")...)
	// A room of their own, renamed: a rename frame to both members.
	if code, body := httpJSON(t, "POST", "http://"+s.addr+"/v1/rooms", "uuid1", strings.NewReader(`{"chatroomId":"trip","name":"Trip","members":["uuid2"]}`)); code != 201 {
		t.Fatalf("create room: %d %v", code, body)
	}
	if code, body := httpJSON(t, "PATCH", "http://"+s.addr+"/v1/rooms/trip", "uuid1", strings.NewReader(`{"name":"Rome 2027"}`)); code != 200 {
		t.Fatalf("rename room: %d %v", code, body)
	}
	recv = append(recv, u1.until("rename")...)
	recv = append(recv, u2.until("rename")...)
	// Handed to uuid2: an owner member frame to both.
	if code, body := httpJSON(t, "PATCH", "http://"+s.addr+"/v1/rooms/trip", "uuid1", strings.NewReader(`{"owner":"uuid2"}`)); code != 200 {
		t.Fatalf("hand the room on: %d %v", code, body)
	}
	owner := u1.until("member")
	recv = append(recv, owner...)
	recv = append(recv, u2.until("member")...)
	if last := owner[len(owner)-1]; !strings.Contains(string(last), `"event":"owner"`) {
		t.Fatalf("the frame of the hand-over: %s", last)
	}
	u1.send(`{"action":"sync","cursors":{"uuidroom2":0,"oldroom":3}}`)
	recv = append(recv, u1.until("syncDone")...)
	u1.send(`{"action":"ping"}`)
	recv = append(recv, u1.until("pong")...)
	u1.send(`{"action":"sync"}`)
	recv = append(recv, u1.until("syncDone")...)
	u1.send(`{"action":"markRead","chatroomId":"uuidroom3"}`) // bad_request
	recv = append(recv, u1.until("error")...)
	// Lifecycle frames, on a server without the tight send budget.
	recv = append(recv, lifecycleSession(t, &sent)...)
	// Token mode: the in-band refresh answers authed.
	recv = append(recv, authedSession(t, &sent)...)

	seen := map[string]int{}
	for _, f := range recv {
		if err := validate(serverFrame, f); err != nil {
			t.Errorf("server frame %s does not match the contract: %v", f, err)
		}
		var head struct{ Type string }
		_ = json.Unmarshal(f, &head)
		seen[head.Type]++
	}
	for _, typ := range k.serverTypes(t) {
		if typ == "closing" {
			continue // AWS only: TestContractDocExamples validates its example
		}
		if seen[typ] == 0 {
			t.Errorf("the session never saw a %q frame; frames: %q", typ, recv)
		}
	}
	for _, f := range sent {
		if bytes.Contains(f, []byte(`"markRead","chatroomId":"uuidroom3"}`)) {
			if validate(clientFrame, f) == nil {
				t.Errorf("the contract accepts the invalid client frame %s", f)
			}
			continue
		}
		if err := validate(clientFrame, f); err != nil {
			t.Errorf("client frame %s does not match the contract: %v", f, err)
		}
	}
	t.Logf("validated %d server frames (%v) and %d client frames", len(recv), seen, len(sent))
}

// lifecycleSession records an edit, a reaction and a delete of a message
// (live to the other member), then a sync from 0 that brings them as
// catch-up entries and the message in its current state (deleted, no text).
func lifecycleSession(t *testing.T, sent *[][]byte) [][]byte {
	t.Helper()
	s := mustStart(t)
	u1 := dialRecorder(t, s, "uuid1", sent)
	u2 := dialRecorder(t, s, "uuid2", sent)
	var recv [][]byte
	u2.send(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"Landing at 10:40","messageType":"text message"}`)
	recv = append(recv, u2.until("ack")...)
	recv = append(recv, u1.until("message")...)
	u1.send(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"Gate B12","messageType":"text message","replyTo":1}`)
	recv = append(recv, u1.until("ack")...)
	recv = append(recv, u2.until("message")...)
	u1.send(`{"action":"editMessage","chatroomId":"uuidroom2","index":2,"chatMessage":"Gate B14","clientMsgId":"e-1"}`)
	recv = append(recv, u1.until("ack")...)
	recv = append(recv, u2.until("edit")...)
	u2.send(`{"action":"react","chatroomId":"uuidroom2","index":2,"reaction":"👍"}`)
	recv = append(recv, u2.until("ack")...)
	recv = append(recv, u1.until("reaction")...)
	u1.send(`{"action":"deleteMessage","chatroomId":"uuidroom2","index":2}`)
	recv = append(recv, u1.until("ack")...)
	recv = append(recv, u2.until("delete")...)
	u1.send(`{"action":"sync","cursors":{"uuidroom2":0}}`)
	lifecycle := u1.until("syncDone")
	recv = append(recv, lifecycle...)
	kinds := map[string]bool{}
	for _, f := range lifecycle {
		var b struct {
			Messages []struct {
				Kind    string
				Deleted bool
			}
		}
		_ = json.Unmarshal(f, &b)
		for _, m := range b.Messages {
			kinds[m.Kind] = true
			if m.Deleted {
				kinds["deleted "+m.Kind] = true
			}
		}
	}
	for _, k := range []string{"message", "edit", "reaction", "delete", "deleted message"} {
		if !kinds[k] {
			t.Errorf("the sync from 0 brought no %q entry (%v)", k, kinds)
		}
	}
	return recv
}

// authedSession opens a token-mode server and a connection with a token,
// refreshes it with an auth frame and returns the frames received.
func authedSession(t *testing.T, sent *[][]byte) [][]byte {
	t.Helper()
	secret := "an-example-secret-of-at-least-32-bytes!!"
	s := mustStartEnv(t, []string{"TRIPSENSE_TOKEN_SECRET=" + secret}, "--auth", "token")
	mint := func(ttl time.Duration) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			Subject: "uuid1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl)),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	r := dialRecorderURL(t, "ws://"+s.addr+"/ws?token="+mint(10*time.Minute), "uuid1", sent)
	r.send(`{"action":"auth","token":"` + mint(time.Hour) + `"}`)
	return r.until("authed")
}

// TestContractRejects proves the schema is strict enough to catch a server
// that drifts: an undocumented field, a missing field, a wrong type.
func TestContractRejects(t *testing.T) {
	k := loadContract(t)
	serverFrame := k.schema(t, "serverFrame")
	for _, f := range []string{
		`{"type":"pong","extra":1}`,
		`{"type":"message","chatroomId":"r","userId":"u","chatMessage":"x","messageType":"t","createTime":"2026-11-25T00:46:10.016Z"}`,
		`{"type":"ack","chatroomId":"r","index":"1","createTime":"2026-11-25T00:46:10.016Z"}`,
		`{"type":"ack","chatroomId":"r","index":1,"createTime":"2026-11-25 00:46"}`,
		`{"type":"synced","chatroomId":"r","head":5,"complete":false}`,
		`{"type":"synced","chatroomId":"r","head":5,"complete":true,"next":3}`,
		`{"type":"error","code":"rate_limited","message":"slow down"}`,
		`{"type":"error","code":"nope","message":"x"}`,
		`{"type":"messages","chatroomId":"r","messages":[]}`,
		`{"type":"surprise"}`,
		`{"type":"edit","chatroomId":"r","index":2,"userId":"u","chatMessage":"x","createTime":"2026-11-25T00:46:10.016Z"}`,
		`{"type":"reaction","chatroomId":"r","index":2,"userId":"u","target":1,"reaction":"x","createTime":"2026-11-25T00:46:10.016Z"}`,
		`{"type":"messages","chatroomId":"r","messages":[{"chatroomId":"r","index":1,"userId":"u","chatMessage":"x","messageType":"t","createTime":"2026-11-25T00:46:10.016Z"}]}`,
		`{"type":"synced","chatroomId":"r","head":5,"complete":true,"truncated":true}`,
		`{"type":"syncDone","epoch":"nothex"}`,
		`{"type":"authed","userId":"u"}`,
		`{"type":"closing","code":4000}`,
	} {
		if validate(serverFrame, []byte(f)) == nil {
			t.Errorf("the contract accepts %s", f)
		}
	}
}

// TestContractDocExamples validates every complete server frame example of
// docs/protocol.md (lines "< {...}" and JSON examples with a "type").
func TestContractDocExamples(t *testing.T) {
	k := loadContract(t)
	serverFrame := k.schema(t, "serverFrame")
	f, err := os.Open(filepath.Join(repoRoot, "docs/protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, line := 0, 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		l = strings.TrimPrefix(l, "< ")
		if !strings.HasPrefix(l, `{"type":`) || !json.Valid([]byte(l)) {
			continue // client frames, prose, and examples shortened with ...
		}
		n++
		if err := validate(serverFrame, []byte(l)); err != nil {
			t.Errorf("docs/protocol.md:%d: %s: %v", line, l, err)
		}
	}
	if n < 10 {
		t.Fatalf("found only %d server frame examples in docs/protocol.md", n)
	}
	t.Logf("validated %d examples", n)
}

package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
	"github.com/tripsense/tripsense/ws/local"
)

// recorder is a Pusher that records frames, closes and the endpoint each
// call saw, and reports deliveries like the real Pusher.
type recorder struct {
	presence tripsense.Presence
	mu       sync.Mutex
	frames   map[string][]string
	closed   []string
	codes    []int // the close code of each of closed
	gone     map[string]bool
	eps      []string
}

func (r *recorder) Push(ctx context.Context, id string, out tripsense.Outbound) error {
	r.mu.Lock()
	r.eps = append(r.eps, apigw.EndpointFrom(ctx))
	if r.gone[id] {
		r.mu.Unlock()
		return tripsense.ErrGone
	}
	r.frames[id] = append(r.frames[id], string(out.Data))
	r.mu.Unlock()
	if out.Index > 0 {
		_ = r.presence.Delivered(ctx, id, out.Room, out.Index)
	}
	return nil
}

func (r *recorder) Close(ctx context.Context, id string, code int, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eps = append(r.eps, apigw.EndpointFrom(ctx))
	r.closed = append(r.closed, id)
	r.codes = append(r.codes, code)
	return nil
}

func (r *recorder) take(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.frames[id]
	delete(r.frames, id)
	return f
}

type handlerFixture struct {
	h     *apigw.Handler
	hub   *local.Hub
	store *memory.Store
	rec   *recorder
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func newHandlerFixture(t *testing.T, policy ws.DuplicatePolicy) *handlerFixture {
	t.Helper()
	st := memory.New()
	ctx := context.Background()
	for _, m := range [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}} {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	hub := local.NewHub(local.HubOptions{})
	rec := &recorder{presence: hub, frames: map[string][]string{}, gone: map[string]bool{}}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := &ws.Service{Store: st, Presence: hub, Pusher: rec, Catchup: &catchup.Service{Store: st}, Policy: policy, FanoutParallelism: 16, Log: log}
	h := &apigw.Handler{Service: svc, Connections: hub, Pusher: rec, Auth: &auth.Dev{}, Log: log}
	return &handlerFixture{h: h, hub: hub, store: st, rec: rec, logs: logs}
}

func loadEvent(t *testing.T, name string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func connectEvent(t *testing.T, conn string, query map[string]string) events.APIGatewayWebsocketProxyRequest {
	ev := loadEvent(t, "connect.json")
	ev.RequestContext.ConnectionID = conn
	ev.QueryStringParameters = query
	ev.MultiValueQueryStringParameters = nil
	return ev
}

func frameEvent(t *testing.T, conn, route, body string) events.APIGatewayWebsocketProxyRequest {
	ev := loadEvent(t, "message.json")
	ev.RequestContext.ConnectionID = conn
	ev.RequestContext.RouteKey = route
	ev.Body = body
	return ev
}

func (f *handlerFixture) call(t *testing.T, ev events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "aws-req-1"})
	resp, err := f.h.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("Handle returned a Lambda error: %v", err)
	}
	return resp
}

func errorCodeOf(t *testing.T, resp events.APIGatewayProxyResponse) string {
	t.Helper()
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &b); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	return b.Error.Code
}

func TestConnectFromFixture(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	ev := loadEvent(t, "connect.json")
	if resp := f.call(t, ev); resp.StatusCode != 200 {
		t.Fatalf("connect: %d %s", resp.StatusCode, resp.Body)
	}
	c, err := f.hub.Get(context.Background(), "Bx1aQeyvjoECJ0w=")
	if err != nil || c.UserID != "uuid1" || c.ConnectedAt.UnixMilli() != 1795597200000 {
		t.Fatalf("registered %+v, %v", c, err)
	}
	if n := len(f.rec.take("Bx1aQeyvjoECJ0w=")); n != 0 {
		t.Fatalf("%d frames pushed from $connect; API Gateway refuses them", n)
	}
	// The message fixture is a sendMessage to uuidroom1 from that connection.
	if resp := f.call(t, loadEvent(t, "message.json")); resp.StatusCode != 200 {
		t.Fatalf("message: %d", resp.StatusCode)
	}
	got := f.rec.take("Bx1aQeyvjoECJ0w=")
	if len(got) != 1 || !strings.Contains(got[0], `"type":"ack"`) || !strings.Contains(got[0], `"index":1`) {
		t.Fatalf("frames = %q", got)
	}
	f.rec.mu.Lock()
	for _, e := range f.rec.eps {
		if e != "https://abc123xyz.execute-api.eu-west-1.amazonaws.com/dev" {
			t.Errorf("pusher saw endpoint %q", e)
		}
	}
	f.rec.mu.Unlock()
	if resp := f.call(t, loadEvent(t, "disconnect.json")); resp.StatusCode != 200 {
		t.Fatalf("disconnect: %d", resp.StatusCode)
	}
	if _, err := f.hub.Get(context.Background(), "Bx1aQeyvjoECJ0w="); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("still registered after $disconnect: %v", err)
	}
	// The ack counts as seen: the cursor advanced on disconnect.
	if cur, _ := f.store.Cursor(context.Background(), "uuid1", "", "uuidroom1"); cur.LastSeen != 1 {
		t.Fatalf("cursor = %+v", cur)
	}

	var sawConnect bool
	for _, r := range f.logs.records(t) {
		if r["msg"] == "connected" {
			sawConnect = true
			if r["request_id"] != "Bx1aQFyzjoEFdPA=" || r["conn"] != "Bx1aQeyvjoECJ0w=" || r["route"] != "$connect" || r["aws_request_id"] != "aws-req-1" || r["user"] != "uuid1" {
				t.Fatalf("connected record lacks ids: %v", r)
			}
		}
	}
	if !sawConnect {
		t.Fatal("no connected log record")
	}
}

func TestConnectRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		policy ws.DuplicatePolicy
		query  map[string]string
		multi  map[string][]string
		status int
		code   string
	}{
		{"no identity", ws.Replace, nil, nil, 401, tripsense.EUNAUTHORIZED},
		{"bad user id", ws.Replace, map[string]string{"userId": "a b"}, nil, 401, tripsense.EUNAUTHORIZED},
		{"userId twice", ws.Replace, map[string]string{"userId": "uuid1"}, map[string][]string{"userId": {"uuid1", "uuid2"}}, 401, tripsense.EUNAUTHORIZED},
		{"refused duplicate", ws.Refuse, map[string]string{"userId": "uuid1"}, nil, 409, tripsense.ECONFLICT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHandlerFixture(t, tc.policy)
			if resp := f.call(t, connectEvent(t, "first", map[string]string{"userId": "uuid1"})); resp.StatusCode != 200 {
				t.Fatalf("first connect: %d", resp.StatusCode)
			}
			ev := connectEvent(t, "second", tc.query)
			ev.MultiValueQueryStringParameters = tc.multi
			resp := f.call(t, ev)
			if resp.StatusCode != tc.status || errorCodeOf(t, resp) != tc.code {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, resp.Body, tc.status, tc.code)
			}
			if _, err := f.hub.Get(context.Background(), "second"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
				t.Fatal("refused connection was registered")
			}
		})
	}
}

func TestTokenMode(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	tk, err := auth.NewToken(strings.Repeat("s", 40))
	if err != nil {
		t.Fatal(err)
	}
	f.h.Auth = tk
	if resp := f.call(t, connectEvent(t, "c1", map[string]string{"userId": "uuid1"})); resp.StatusCode != 401 {
		t.Fatalf("dev identity accepted in token mode: %d", resp.StatusCode)
	}
	tok, _ := tk.Mint("uuid2", 60e9, false)
	if resp := f.call(t, connectEvent(t, "c1", map[string]string{"token": tok})); resp.StatusCode != 200 {
		t.Fatalf("token connect: %d %s", resp.StatusCode, resp.Body)
	}
	c, _ := f.hub.Get(context.Background(), "c1")
	if c.UserID != "uuid2" {
		t.Fatalf("user = %q", c.UserID)
	}
	// The connection record expires with the token (JWT exp has whole seconds).
	if d := time.Until(c.ExpiresAt); d <= 58*time.Second || d > 61*time.Second {
		t.Fatalf("connection expires in %v, want the token's 60 s", d)
	}
}

func TestFrames(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	for _, c := range [][2]string{{"c1", "uuid1"}, {"c2", "uuid2"}} {
		if resp := f.call(t, connectEvent(t, c[0], map[string]string{"userId": c[1]})); resp.StatusCode != 200 {
			t.Fatal(resp.Body)
		}
	}
	cases := []struct {
		name, route, body string
		base64            bool
		want              string
	}{
		{"ping", "ping", `{"action":"ping"}`, false, `"type":"pong"`},
		{"malformed on $default", "$default", `{"action":`, false, `"code":"bad_request"`},
		{"unknown action on $default", "$default", `{"action":"dance"}`, false, `"code":"unknown_action"`},
		{"not a member", "sendMessage", `{"action":"sendMessage","chatroomId":"uuidroom3","chatMessage":"x","messageType":"text message"}`, false, `"code":"not_member"`},
		{"binary frame", "$default", base64.StdEncoding.EncodeToString([]byte(`{"action":"ping"}`)), true, `"type":"pong"`},
		{"usable after bad input", "ping", `{"action":"ping"}`, false, `"type":"pong"`},
	}
	for _, tc := range cases {
		ev := frameEvent(t, "c1", tc.route, tc.body)
		ev.IsBase64Encoded = tc.base64
		if resp := f.call(t, ev); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", tc.name, resp.StatusCode)
		}
		got := f.rec.take("c1")
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Fatalf("%s: frames %q, want one with %s", tc.name, got, tc.want)
		}
	}
	// Fan-out through the handler: uuid2 receives uuid1's message in uuidroom2.
	send := `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"hello","messageType":"text message","clientMsgId":"m1"}`
	f.call(t, frameEvent(t, "c1", "sendMessage", send))
	if got := f.rec.take("c2"); len(got) != 1 || !strings.Contains(got[0], `"chatMessage":"hello"`) {
		t.Fatalf("uuid2 got %q", got)
	}
}

func TestUnknownConnectionIsDeleted(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	resp := f.call(t, frameEvent(t, "stale", "ping", `{"action":"ping"}`))
	if resp.StatusCode != 410 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	if len(f.rec.closed) != 1 || f.rec.closed[0] != "stale" || len(f.rec.frames["stale"]) != 0 {
		t.Fatalf("closed %q, frames %q", f.rec.closed, f.rec.frames["stale"])
	}
}

func TestGoneWhileAnsweringDisconnects(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	f.call(t, connectEvent(t, "c1", map[string]string{"userId": "uuid1"}))
	f.rec.mu.Lock()
	f.rec.gone["c1"] = true
	f.rec.mu.Unlock()
	if resp := f.call(t, frameEvent(t, "c1", "ping", `{"action":"ping"}`)); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := f.hub.Get(context.Background(), "c1"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("gone connection still registered: %v", err)
	}
}

func TestReplaceDeletesOlderConnection(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	f.call(t, connectEvent(t, "old", map[string]string{"userId": "uuid1"}))
	if resp := f.call(t, connectEvent(t, "new", map[string]string{"userId": "uuid1"})); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	f.rec.mu.Lock()
	closed := append([]string(nil), f.rec.closed...)
	f.rec.mu.Unlock()
	if len(closed) != 1 || closed[0] != "old" {
		t.Fatalf("closed %q", closed)
	}
	// Its $disconnect, which API Gateway sends after the deletion, is a no-op.
	ev := loadEvent(t, "disconnect.json")
	ev.RequestContext.ConnectionID = "old"
	if resp := f.call(t, ev); resp.StatusCode != 200 {
		t.Fatalf("late $disconnect: %d", resp.StatusCode)
	}
	if _, err := f.hub.Get(context.Background(), "new"); err != nil {
		t.Fatalf("new connection lost: %v", err)
	}
}

// TestDispatchOnEventType: the handler dispatches on
// requestContext.eventType, whatever the route key says, and refuses an
// event type it does not know with a clear error instead of treating it as
// a frame.
func TestDispatchOnEventType(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	ev := connectEvent(t, "c1", map[string]string{"userId": "uuid1"})
	ev.RequestContext.RouteKey = "connectRoute" // not $connect
	if resp := f.call(t, ev); resp.StatusCode != 200 {
		t.Fatalf("CONNECT on another route key: %d %s", resp.StatusCode, resp.Body)
	}
	if _, err := f.hub.Get(context.Background(), "c1"); err != nil {
		t.Fatalf("not registered: %v", err)
	}
	// A MESSAGE on a route named like the disconnect route is a frame.
	if resp := f.call(t, frameEvent(t, "c1", "$disconnect", `{"action":"ping"}`)); resp.StatusCode != 200 {
		t.Fatalf("frame: %d", resp.StatusCode)
	}
	if got := f.rec.take("c1"); len(got) != 1 || !strings.Contains(got[0], `"type":"pong"`) {
		t.Fatalf("frames %q, want a pong", got)
	}
	if _, err := f.hub.Get(context.Background(), "c1"); err != nil {
		t.Fatalf("a MESSAGE disconnected the connection: %v", err)
	}
	for _, typ := range []string{"", "SUBSCRIBE"} {
		ev := frameEvent(t, "c1", "$default", `{"action":"ping"}`)
		ev.RequestContext.EventType = typ
		resp := f.call(t, ev)
		if resp.StatusCode != 400 || errorCodeOf(t, resp) != tripsense.EINVALID || !strings.Contains(resp.Body, "unknown event type") {
			t.Fatalf("event type %q: %d %s, want 400 naming the event type", typ, resp.StatusCode, resp.Body)
		}
		if got := f.rec.take("c1"); len(got) != 0 {
			t.Fatalf("event type %q handled as a frame: %q", typ, got)
		}
	}
	dis := loadEvent(t, "disconnect.json")
	dis.RequestContext.ConnectionID = "c1"
	dis.RequestContext.RouteKey = "bye"
	if resp := f.call(t, dis); resp.StatusCode != 200 {
		t.Fatalf("DISCONNECT: %d", resp.StatusCode)
	}
	if _, err := f.hub.Get(context.Background(), "c1"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("DISCONNECT on another route key left the connection: %v", err)
	}
}

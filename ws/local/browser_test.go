package local_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	wscore "github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// browserFixture serves users a and b (members of "room") in dev or token
// identity mode.
type browserFixture struct {
	addr string
	srv  *local.Server
	hub  *local.Hub
	tk   *auth.Token
}

func newBrowserFixture(t *testing.T, token bool, policy wscore.DuplicatePolicy, configure ...func(*local.Server)) *browserFixture {
	t.Helper()
	st := memory.New()
	for _, u := range []string{"a", "b"} {
		_ = st.AddMember(context.Background(), "room", u)
	}
	hub := local.NewHub(local.HubOptions{})
	svc := &wscore.Service{Store: st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: st}, Policy: policy, MaxConnectionsPerUser: 1}
	f := &browserFixture{hub: hub}
	srv := &local.Server{Service: svc, Hub: hub, Auth: &auth.Dev{}}
	if token {
		f.tk = &auth.Token{Secret: []byte(testTokenSecret)}
		srv.Auth, svc.Auth = f.tk, f.tk
	}
	for _, c := range configure {
		c(srv)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(wscore.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
	})
	f.addr, f.srv = strings.TrimPrefix(ts.URL, "http://"), srv
	return f
}

const testTokenSecret = "0123456789abcdef0123456789abcdef"

func (f *browserFixture) token(t *testing.T, user string) string {
	t.Helper()
	tok, err := f.tk.Mint(user, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawUpgrade sends an upgrade request for /?query with extra header lines
// ("Name: value") and reads the answer's head. The client is usable when
// the status is 101.
func rawUpgrade(t *testing.T, addr, query string, headers ...string) (*http.Response, *rawClient) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var extra string
	for _, h := range headers {
		extra += h + "\r\n"
	}
	fmt.Fprintf(conn, "GET /?%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n", query, addr, goodKey, extra)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s %q: no answer: %v", query, headers, err)
	}
	_ = conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		resp.Header.Set("X-Test-Body", string(body))
	}
	return resp, &rawClient{conn: conn, br: br}
}

func mustUpgrade(t *testing.T, addr, query string, headers ...string) *rawClient {
	t.Helper()
	resp, c := rawUpgrade(t, addr, query, headers...)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%s %q: %d %s, want 101", query, headers, resp.StatusCode, resp.Header.Get("X-Test-Body"))
	}
	return c
}

func (c *rawClient) send(t *testing.T, s string) {
	t.Helper()
	c.write(t, ws.NewTextFrame([]byte(s)))
}

// json reads the next frame, which must be a text frame, as JSON.
func (c *rawClient) json(t *testing.T) map[string]any {
	t.Helper()
	f := c.next(t)
	if f.Header.OpCode != ws.OpText {
		code, reason := ws.ParseCloseFrameData(f.Payload)
		t.Fatalf("got opcode %v (close %d %q), want a text frame", f.Header.OpCode, code, reason)
	}
	var m map[string]any
	if err := json.Unmarshal(f.Payload, &m); err != nil {
		t.Fatalf("%q: %v", f.Payload, err)
	}
	return m
}

// closed reads frames until the server's close frame and returns its code
// and reason, with the text frames before it.
func (c *rawClient) closed(t *testing.T) (int, string, []string) {
	t.Helper()
	var texts []string
	for range 100 {
		f := c.next(t)
		switch f.Header.OpCode {
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(f.Payload)
			c.write(t, ws.NewCloseFrame(f.Payload)) // answer it, as a browser does
			return int(code), reason, texts
		case ws.OpText:
			texts = append(texts, string(f.Payload))
		}
	}
	t.Fatal("no close frame in 100 frames")
	return 0, "", nil
}

// TestAllowedOriginsOpenTheWebSocket: with --allowed-origins, an Origin in
// the list is accepted besides the same origin and clients without
// Origin; any other is refused with 403 (for browsers too), and "*" does
// not open the WebSocket.
func TestAllowedOriginsOpenTheWebSocket(t *testing.T) {
	t.Parallel()
	origins, err := tripsense.ParseOrigins("https://app.example.com,*")
	if err != nil {
		t.Fatal(err)
	}
	f := newBrowserFixture(t, false, wscore.Allow, func(s *local.Server) { s.Origins = origins })
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"", 101},
		{"http://" + f.addr, 101},
		{"https://app.example.com", 101},
		{"https://APP.example.com", 101},
		{"http://app.example.com", 403},
		{"https://evil.example", 403},
		{"null", 403},
	} {
		var hdr []string
		if tc.origin != "" {
			hdr = append(hdr, "Origin: "+tc.origin)
		}
		resp, c := rawUpgrade(t, f.addr, "userId=a", hdr...)
		if resp.StatusCode != tc.want {
			t.Errorf("Origin %q: %d %s, want %d", tc.origin, resp.StatusCode, resp.Header.Get("X-Test-Body"), tc.want)
		}
		if tc.want == 403 && !strings.Contains(resp.Header.Get("X-Test-Body"), `"forbidden"`) {
			t.Errorf("Origin %q: body %s", tc.origin, resp.Header.Get("X-Test-Body"))
		}
		c.conn.Close()
	}
	// Two Origin headers are ambiguous.
	if resp, _ := rawUpgrade(t, f.addr, "userId=a", "Origin: https://app.example.com", "Origin: https://evil.example"); resp.StatusCode != 403 {
		t.Errorf("two Origins: %d", resp.StatusCode)
	}
	// Without the list, only the same origin.
	plain := newBrowserFixture(t, false, wscore.Allow)
	if resp, _ := rawUpgrade(t, plain.addr, "userId=a", "Origin: https://app.example.com"); resp.StatusCode != 403 {
		t.Errorf("no list: %d, want 403", resp.StatusCode)
	}
	if resp, _ := rawUpgrade(t, plain.addr, "userId=a", "Origin: http://"+plain.addr); resp.StatusCode != 101 {
		t.Errorf("no list, same origin: %d, want 101", resp.StatusCode)
	}
}

// TestSubprotocolIsSelected: tripsense.v1 is selected when offered (alone
// or among others), no subprotocol is answered when none is offered, and
// a request that offers only others is refused with a clear 400 before
// the duplicate policy (the live connection stays).
func TestSubprotocolIsSelected(t *testing.T) {
	t.Parallel()
	f := newBrowserFixture(t, false, wscore.Replace)
	live := mustUpgrade(t, f.addr, "userId=b")
	for _, offer := range []string{"tripsense.v1", "chat, tripsense.v1"} {
		resp, c := rawUpgrade(t, f.addr, "userId=a", "Sec-WebSocket-Protocol: "+offer)
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Protocol") != "tripsense.v1" {
			t.Fatalf("offer %q: %d, protocol %q", offer, resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"))
		}
		c.send(t, `{"action":"ping"}`)
		if m := c.json(t); m["type"] != "pong" {
			t.Fatalf("offer %q: %v", offer, m)
		}
		c.conn.Close()
	}
	resp, c := rawUpgrade(t, f.addr, "userId=a")
	if resp.StatusCode != 101 || len(resp.Header.Values("Sec-WebSocket-Protocol")) != 0 {
		t.Fatalf("no offer: %d, protocol %q", resp.StatusCode, resp.Header.Values("Sec-WebSocket-Protocol"))
	}
	c.conn.Close()
	for _, offer := range []string{"chat", "tripsense.v2, mqtt", "tripsense.v1;q=1"} {
		resp, _ := rawUpgrade(t, f.addr, "userId=b", "Origin: http://"+f.addr, "Sec-WebSocket-Protocol: "+offer)
		body := resp.Header.Get("X-Test-Body")
		if resp.StatusCode != 400 || !strings.Contains(body, "tripsense.v1") {
			t.Errorf("offer %q: %d %s, want 400 naming tripsense.v1", offer, resp.StatusCode, body)
		}
	}
	live.send(t, `{"action":"ping"}`)
	if m := live.json(t); m["type"] != "pong" {
		t.Fatalf("the refused offers replaced the live connection: %v", m)
	}
}

// TestBrowserRefusalsAreCloseCodes: after a valid handshake, a browser (an
// Origin, or the subprotocol offered) is refused with an accepted upgrade
// closed at once with 4401 / 4409 / 4429 and "<code>: <message>"; other
// clients keep the HTTP statuses.
func TestBrowserRefusalsAreCloseCodes(t *testing.T) {
	t.Parallel()
	refuse := newBrowserFixture(t, false, wscore.Refuse)
	allow := newBrowserFixture(t, false, wscore.Allow) // MaxConnectionsPerUser 1
	mustUpgrade(t, refuse.addr, "userId=a")
	mustUpgrade(t, allow.addr, "userId=a")
	for _, tc := range []struct {
		name   string
		addr   string
		query  string
		status int
		code   int
		reason string
	}{
		{"no identity", refuse.addr, "", 401, wscore.CloseUnauthorized, "unauthorized: "},
		{"invalid user", refuse.addr, "userId=" + strings.Repeat("x", 300), 401, wscore.CloseUnauthorized, "unauthorized: "},
		{"userId twice", refuse.addr, "userId=b&userId=c", 401, wscore.CloseUnauthorized, "unauthorized: userId and token may each be given once"},
		{"refuse policy", refuse.addr, "userId=a", 409, wscore.CloseConflict, "conflict: user a is already connected"},
		{"connection limit", allow.addr, "userId=a", 429, wscore.CloseTooMany, "rate_limited: user a already has 1 connections"},
	} {
		resp, _ := rawUpgrade(t, tc.addr, tc.query)
		if resp.StatusCode != tc.status {
			t.Errorf("%s, no browser: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		for _, hdr := range [][]string{
			{"Origin: http://" + tc.addr},
			{"Sec-WebSocket-Protocol: tripsense.v1"},
		} {
			resp, c := rawUpgrade(t, tc.addr, tc.query, hdr...)
			if resp.StatusCode != 101 {
				t.Errorf("%s, %s: %d %s, want 101 and a close", tc.name, hdr, resp.StatusCode, resp.Header.Get("X-Test-Body"))
				continue
			}
			if strings.HasPrefix(hdr[0], "Sec-") && resp.Header.Get("Sec-WebSocket-Protocol") != "tripsense.v1" {
				t.Errorf("%s: refusal without the selected subprotocol (a browser fails such a handshake)", tc.name)
			}
			code, reason, texts := c.closed(t)
			if code != tc.code || !strings.HasPrefix(reason, tc.reason) || len(texts) != 0 {
				t.Errorf("%s, %s: close %d %q after %q, want %d %q...", tc.name, hdr, code, reason, texts, tc.code, tc.reason)
			}
		}
	}
	if n := refuse.hub.Len() + allow.hub.Len(); n != 2 {
		t.Fatalf("%d connections registered, want the 2 live ones", n)
	}
}

// TestFirstFrameAuthentication: in token mode an upgrade without
// credentials is accepted; until its auth frame every frame gets an
// unauthorized error, nothing is delivered to it and it replaces nobody;
// the auth frame is answered with authed as the first frame, and then the
// connection is the token's user (the duplicate policy runs only now).
func TestFirstFrameAuthentication(t *testing.T) {
	t.Parallel()
	f := newBrowserFixture(t, true, wscore.Replace)
	old := mustUpgrade(t, f.addr, "token="+f.token(t, "a"))
	sender := mustUpgrade(t, f.addr, "token="+f.token(t, "b"))

	resp, c := rawUpgrade(t, f.addr, "", "Origin: http://"+f.addr, "Sec-WebSocket-Protocol: tripsense.v1")
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Protocol") != "tripsense.v1" {
		t.Fatalf("upgrade without credentials: %d %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	c.send(t, `{"action":"sync","clientMsgId":"s-1"}`)
	if e := c.json(t); e["type"] != "error" || e["code"] != "unauthorized" || e["action"] != "sync" || e["clientMsgId"] != "s-1" {
		t.Fatalf("frame before auth: %v", e)
	}
	// A message to the room now is not delivered to the unauthenticated
	// connection, and the old connection of a is still there.
	sender.send(t, `{"action":"sendMessage","chatroomId":"room","chatMessage":"before","messageType":"text","clientMsgId":"m-1"}`)
	if a := sender.json(t); a["type"] != "ack" {
		t.Fatalf("send: %v", a)
	}
	if m := old.json(t); m["chatMessage"] != "before" {
		t.Fatalf("old connection: %v", m)
	}
	if n := f.hub.Len(); n != 2 {
		t.Fatalf("%d connections online before the auth frame, want 2", n)
	}
	// The auth frame and a sync pipelined behind it.
	c.send(t, `{"action":"auth","token":"`+f.token(t, "a")+`"}`)
	c.send(t, `{"action":"sync","cursors":{"room":0}}`)
	if a := c.json(t); a["type"] != "authed" || a["userId"] != "a" || a["exp"] == nil {
		t.Fatalf("first frame after auth: %v", a)
	}
	var got []string
	for range 10 {
		m := c.json(t)
		got = append(got, m["type"].(string))
		if m["type"] == "syncDone" {
			break
		}
	}
	if strings.Join(got, ",") != "messages,synced,syncDone" {
		t.Fatalf("sync after auth: %v", got)
	}
	// Now the duplicate policy ran: the old connection was replaced.
	if code, _, _ := old.closed(t); code != wscore.CloseReplaced {
		t.Fatalf("old connection closed with %d, want 4000", code)
	}
	sender.send(t, `{"action":"sendMessage","chatroomId":"room","chatMessage":"after","messageType":"text","clientMsgId":"m-2"}`)
	if m := c.json(t); m["chatMessage"] != "after" {
		t.Fatalf("live message after auth: %v", m)
	}
}

// TestFirstFrameAuthenticationFailures close with 4401: a bad token, an
// auth frame naming a userId, too many frames before auth, no auth frame
// within the deadline. Dev mode keeps refusing a request without userId.
func TestFirstFrameAuthenticationFailures(t *testing.T) {
	t.Parallel()
	f := newBrowserFixture(t, true, wscore.Replace, func(s *local.Server) { local.SetAuthTimeout(s, 300*time.Millisecond) })
	for _, tc := range []struct {
		name   string
		frames []string
		reason string
	}{
		{"bad token", []string{`{"action":"auth","token":"not.a.jwt"}`}, "unauthorized: "},
		{"no token", []string{`{"action":"auth"}`}, `unauthorized: auth needs "token"`},
		{"userId", []string{`{"action":"auth","userId":"a","token":"` + f.token(t, "a") + `"}`}, `unauthorized: the auth frame takes no "userId"`},
		{"too many frames", strings.Split(strings.Repeat(`{"action":"ping"}|`, wscore.MaxUnauthenticatedFrames+1), "|")[:wscore.MaxUnauthenticatedFrames+1], "unauthorized: 17 frames before the auth frame"},
		{"deadline", nil, "unauthorized: no auth frame within"},
	} {
		c := mustUpgrade(t, f.addr, "")
		for _, fr := range tc.frames {
			c.send(t, fr)
		}
		start := time.Now()
		code, reason, texts := c.closed(t)
		if code != wscore.CloseUnauthorized || !strings.HasPrefix(reason, tc.reason) {
			t.Errorf("%s: close %d %q, want 4401 %q...", tc.name, code, reason, tc.reason)
		}
		if tc.name == "too many frames" && len(texts) != wscore.MaxUnauthenticatedFrames {
			t.Errorf("%s: %d error frames before the close, want %d", tc.name, len(texts), wscore.MaxUnauthenticatedFrames)
		}
		if tc.name == "deadline" && time.Since(start) > 5*time.Second {
			t.Errorf("deadline close after %s", time.Since(start))
		}
	}
	if n := f.hub.Len(); n != 0 {
		t.Fatalf("%d connections registered", n)
	}
	dev := newBrowserFixture(t, false, wscore.Replace)
	if resp, _ := rawUpgrade(t, dev.addr, ""); resp.StatusCode != 401 {
		t.Fatalf("dev mode without userId: %d, want 401", resp.StatusCode)
	}
}

// TestShutdownClosesUnauthenticatedConnections: CloseAll (graceful
// shutdown) closes a connection still waiting for its auth frame with
// 1001 at once, so shutdown does not wait for its deadline.
func TestShutdownClosesUnauthenticatedConnections(t *testing.T) {
	t.Parallel()
	f := newBrowserFixture(t, true, wscore.Replace)
	c := mustUpgrade(t, f.addr, "")
	c.send(t, `{"action":"ping"}`)
	_ = c.json(t) // the server reads frames: the connection waits for auth
	start := time.Now()
	f.hub.CloseAll(wscore.CloseGoingAway, "server shutting down")
	code, _, _ := c.closed(t)
	if code != wscore.CloseGoingAway {
		t.Fatalf("close %d, want 1001", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Wait(ctx); err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Wait: %v after %s", err, time.Since(start))
	}
}

package apigw_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/ws"
)

type eventT = events.APIGatewayWebsocketProxyRequest

const fixtureHost = "abc123xyz.execute-api.eu-west-1.amazonaws.com"

// connectedAt is the connectedAt of the event fixtures.
var connectedAt = time.UnixMilli(1795597200000)

func withHeaders(ev eventT, kv ...string) eventT {
	ev.Headers = map[string]string{"Host": fixtureHost}
	ev.MultiValueHeaders = nil
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Headers[kv[i]] = kv[i+1]
	}
	return ev
}

// TestConnectChecksTheOrigin: $connect applies the origin rule with the
// Host API Gateway passes: no Origin, the same origin and a listed one are
// accepted, any other is 403 (for browsers too: the handshake is refused
// before anything is registered).
func TestConnectChecksTheOrigin(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Allow)
	f.h.Origins, _ = tripsense.ParseOrigins("https://app.example.com")
	for i, tc := range []struct {
		origin string
		want   int
	}{
		{"", 200},
		{"https://" + fixtureHost, 200},
		{"https://app.example.com", 200},
		{"https://evil.example", 403},
		{"http://app.example.com", 403},
	} {
		ev := withHeaders(connectEvent(t, "c"+string(rune('a'+i)), map[string]string{"userId": "uuid1"}))
		if tc.origin != "" {
			ev.Headers["origin"] = tc.origin // API Gateway keeps the client's letter case
		}
		resp := f.call(t, ev)
		if resp.StatusCode != tc.want {
			t.Errorf("Origin %q: %d %s, want %d", tc.origin, resp.StatusCode, resp.Body, tc.want)
		}
		if tc.want == 403 {
			if code := errorCodeOf(t, resp); code != tripsense.EFORBIDDEN {
				t.Errorf("Origin %q: code %s", tc.origin, code)
			}
			if _, err := f.hub.Get(context.Background(), ev.RequestContext.ConnectionID); err == nil {
				t.Errorf("Origin %q: registered", tc.origin)
			}
		}
	}
}

// TestConnectSelectsTheSubprotocol: an offer with tripsense.v1 is answered
// with Sec-WebSocket-Protocol: tripsense.v1 (without it a browser fails the
// handshake), no offer with no header, an offer of others only with 400.
func TestConnectSelectsTheSubprotocol(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Allow)
	for i, tc := range []struct {
		offer string
		want  int
		proto string
	}{
		{"", 200, ""},
		{"tripsense.v1", 200, "tripsense.v1"},
		{"chat, tripsense.v1", 200, "tripsense.v1"},
		{"chat", 400, ""},
	} {
		ev := withHeaders(connectEvent(t, "p"+string(rune('a'+i)), map[string]string{"userId": "uuid1"}))
		if tc.offer != "" {
			ev.Headers["Sec-WebSocket-Protocol"] = tc.offer
		}
		resp := f.call(t, ev)
		if resp.StatusCode != tc.want || resp.Headers["Sec-WebSocket-Protocol"] != tc.proto {
			t.Errorf("offer %q: %d %v %s, want %d and %q", tc.offer, resp.StatusCode, resp.Headers, resp.Body, tc.want, tc.proto)
		}
		if tc.want == 400 && !strings.Contains(resp.Body, "tripsense.v1") {
			t.Errorf("offer %q: body %s does not name tripsense.v1", tc.offer, resp.Body)
		}
	}
}

func tokenMode(t *testing.T, f *handlerFixture, now time.Time) *auth.Token {
	t.Helper()
	tk := &auth.Token{Secret: []byte("0123456789abcdef0123456789abcdef")}
	f.h.Auth = tk
	f.h.Service.(*ws.Service).Auth = tk
	f.h.Now = func() time.Time { return now }
	return tk
}

func mintFor(t *testing.T, tk *auth.Token, user string) string {
	t.Helper()
	tok, err := tk.Mint(user, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestFirstFrameAuthenticationOnAWS: in token mode $connect without
// credentials is accepted and registers nothing; frames before the auth
// frame get an unauthorized error; the auth frame runs Connect for the
// token's user and answers authed; later frames are the user's.
func TestFirstFrameAuthenticationOnAWS(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Replace)
	tk := tokenMode(t, f, connectedAt.Add(2*time.Second))
	const id = "pending-1"
	ev := withHeaders(connectEvent(t, id, nil), "Origin", "https://"+fixtureHost, "Sec-WebSocket-Protocol", "tripsense.v1")
	resp := f.call(t, ev)
	if resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != "tripsense.v1" {
		t.Fatalf("$connect without credentials: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	if _, err := f.hub.Get(context.Background(), id); err == nil {
		t.Fatal("registered before the auth frame")
	}
	f.call(t, frameEvent(t, id, "sync", `{"action":"sync","clientMsgId":"s-1"}`))
	got := f.rec.take(id)
	if len(got) != 1 || !strings.Contains(got[0], `"code":"unauthorized"`) || !strings.Contains(got[0], `"action":"sync"`) {
		t.Fatalf("frame before auth answered %q", got)
	}
	if _, err := f.hub.Get(context.Background(), id); err == nil || len(f.rec.closed) != 0 {
		t.Fatalf("a frame before auth registered or closed the connection (closed %v)", f.rec.closed)
	}
	f.call(t, frameEvent(t, id, "auth", `{"action":"auth","token":"`+mintFor(t, tk, "uuid1")+`"}`))
	got = f.rec.take(id)
	if len(got) != 1 || !strings.HasPrefix(got[0], `{"type":"authed","userId":"uuid1","exp":`) {
		t.Fatalf("auth frame answered %q", got)
	}
	c, err := f.hub.Get(context.Background(), id)
	if err != nil || c.UserID != "uuid1" || !c.ConnectedAt.Equal(connectedAt) || c.ExpiresAt.IsZero() {
		t.Fatalf("after auth: %+v %v", c, err)
	}
	f.call(t, frameEvent(t, id, "sendMessage", `{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"hi","messageType":"text"}`))
	if got := f.rec.take(id); len(got) != 1 || !strings.Contains(got[0], `"type":"ack"`) {
		t.Fatalf("send after auth answered %q", got)
	}
}

// TestFirstFrameAuthenticationRefusalsOnAWS: a bad auth frame closes with
// 4401, a refused Connect with 4409 (as a closing frame before the
// delete, through the Pusher), and once ws.AuthTimeout has passed an
// unregistered connection is just unknown (4002). Dev mode keeps 401.
func TestFirstFrameAuthenticationRefusalsOnAWS(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture(t, ws.Refuse)
	tk := tokenMode(t, f, connectedAt.Add(time.Second))
	if resp := f.call(t, withHeaders(connectEvent(t, "live", map[string]string{"token": mintFor(t, tk, "uuid2")}))); resp.StatusCode != 200 {
		t.Fatalf("live: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		id, body string
		code     int
	}{
		{"bad", `{"action":"auth","token":"not.a.jwt"}`, ws.CloseUnauthorized},
		{"named", `{"action":"auth","userId":"uuid1","token":"` + mintFor(t, tk, "uuid1") + `"}`, ws.CloseUnauthorized},
		{"dup", `{"action":"auth","token":"` + mintFor(t, tk, "uuid2") + `"}`, ws.CloseConflict},
	} {
		if resp := f.call(t, withHeaders(connectEvent(t, tc.id, nil))); resp.StatusCode != 200 {
			t.Fatalf("%s: $connect %d", tc.id, resp.StatusCode)
		}
		f.call(t, frameEvent(t, tc.id, "auth", tc.body))
		f.rec.mu.Lock()
		n := len(f.rec.closed)
		closed, code := "", 0
		if n > 0 {
			closed, code = f.rec.closed[n-1], f.rec.codes[n-1]
		}
		f.rec.mu.Unlock()
		if closed != tc.id || code != tc.code {
			t.Errorf("%s: closed %q with %d, want %d", tc.id, closed, code, tc.code)
		}
		if _, err := f.hub.Get(context.Background(), tc.id); err == nil {
			t.Errorf("%s: registered", tc.id)
		}
	}
	// Past the deadline the connection is unknown.
	f.h.Now = func() time.Time { return connectedAt.Add(ws.AuthTimeout + time.Second) }
	if resp := f.call(t, withHeaders(connectEvent(t, "late", nil))); resp.StatusCode != 200 {
		t.Fatalf("late: $connect %d", resp.StatusCode)
	}
	f.call(t, frameEvent(t, "late", "auth", `{"action":"auth","token":"`+mintFor(t, tk, "uuid1")+`"}`))
	f.rec.mu.Lock()
	last, lastCode := f.rec.closed[len(f.rec.closed)-1], f.rec.codes[len(f.rec.codes)-1]
	f.rec.mu.Unlock()
	if last != "late" || lastCode != ws.CloseRemoved {
		t.Errorf("late auth frame: closed %q with %d, want 4002", last, lastCode)
	}
	if _, err := f.hub.Get(context.Background(), "late"); err == nil {
		t.Error("late auth frame registered")
	}
	// Dev mode: no first-frame authentication.
	dev := newHandlerFixture(t, ws.Replace)
	if resp := dev.call(t, withHeaders(connectEvent(t, "d", nil))); resp.StatusCode != 401 {
		t.Errorf("dev mode $connect without userId: %d, want 401", resp.StatusCode)
	}
}

package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// tokenFixture is a server in token identity mode.
type tokenFixture struct {
	url string
	tk  *auth.Token
	srv *local.Server
}

func newTokenFixture(t *testing.T, configure ...func(*local.Server)) *tokenFixture {
	t.Helper()
	st := memory.New()
	for _, u := range []string{"a", "b"} {
		if err := st.AddMember(context.Background(), "room", u); err != nil {
			t.Fatal(err)
		}
	}
	tk := &auth.Token{Secret: []byte("0123456789abcdef0123456789abcdef")}
	hub := local.NewHub(local.HubOptions{})
	svc := &ws.Service{Store: st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: st}, Policy: ws.Replace, Auth: tk}
	srv := &local.Server{Service: svc, Hub: hub, Auth: tk}
	for _, c := range configure {
		c(srv)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(ws.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
	})
	return &tokenFixture{url: "ws" + strings.TrimPrefix(ts.URL, "http"), tk: tk, srv: srv}
}

func (f *tokenFixture) token(t *testing.T, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := f.tk.Mint(user, ttl, false)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *tokenFixture) dial(t *testing.T, query string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, f.url+query, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// closeCode reads until the connection closes (or the deadline passes) and
// returns the close code and reason; frames before it are returned too.
func closeCode(t *testing.T, c *websocket.Conn, within time.Duration) (websocket.StatusCode, string, []map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var frames []map[string]any
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if asCloseError(err, &ce) {
				return ce.Code, ce.Reason, frames
			}
			t.Fatalf("no close within %s: %v (frames %v)", within, err, frames)
		}
		frames = append(frames, decode(t, data))
	}
}

// TestAuthFrameMovesTheCloseTimer: over a real socket, an auth frame with a
// token expiring sooner brings the 4003 close forward, and one expiring
// later keeps the connection open past the first token's exp.
func TestAuthFrameMovesTheCloseTimer(t *testing.T) {
	t.Parallel()
	f := newTokenFixture(t)

	sooner := f.dial(t, "?token="+url.QueryEscape(f.token(t, "a", time.Hour)), nil)
	write(t, sooner, `{"action":"auth","token":"`+f.token(t, "a", 2*time.Second)+`"}`)
	if fr := readFrame(t, sooner); fr["type"] != "authed" || fr["userId"] != "a" {
		t.Fatalf("got %v, want authed", fr)
	}
	if code, reason, _ := closeCode(t, sooner, 10*time.Second); code != ws.CloseExpired || !strings.Contains(reason, "token expired") {
		t.Fatalf("closed with %d %q, want %d", code, reason, ws.CloseExpired)
	}

	first := f.token(t, "b", 2*time.Second)
	later := f.dial(t, "?token="+url.QueryEscape(first), nil)
	firstExp, _ := f.tk.Authenticate(context.Background(), credentials(first))
	write(t, later, `{"action":"auth","token":"`+f.token(t, "b", time.Hour)+`"}`)
	if fr := readFrame(t, later); fr["type"] != "authed" {
		t.Fatalf("got %v, want authed", fr)
	}
	// Wait for the first token's exp to pass (a timer, not a guess: the
	// close it would have caused is due then), then use the connection.
	<-time.After(time.Until(firstExp.Expires) + time.Second)
	write(t, later, `{"action":"ping"}`)
	if fr := readFrame(t, later); fr["type"] != "pong" {
		t.Fatalf("after the first token's exp: %v, want pong", fr)
	}
}

// TestAuthFrameOfAnotherUserKeepsTheOldToken: a refused auth frame is
// answered with an error and the connection still closes at its token's
// exp.
func TestAuthFrameOfAnotherUserKeepsTheOldToken(t *testing.T) {
	t.Parallel()
	f := newTokenFixture(t)
	c := f.dial(t, "?token="+url.QueryEscape(f.token(t, "a", 2*time.Second)), nil)
	write(t, c, `{"action":"auth","token":"`+f.token(t, "b", time.Hour)+`"}`)
	if fr := readFrame(t, c); fr["type"] != "error" || fr["code"] != "forbidden" {
		t.Fatalf("got %v, want forbidden", fr)
	}
	write(t, c, `{"action":"auth","token":"garbage"}`)
	if fr := readFrame(t, c); fr["type"] != "error" || fr["code"] != "unauthorized" {
		t.Fatalf("got %v, want unauthorized", fr)
	}
	if code, _, _ := closeCode(t, c, 10*time.Second); code != ws.CloseExpired {
		t.Fatalf("closed with %d, want %d", code, ws.CloseExpired)
	}
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return f
}

func asCloseError(err error, ce *websocket.CloseError) bool { return errors.As(err, ce) }

func credentials(token string) tripsense.Credentials { return tripsense.Credentials{Token: token} }

// TestAuthFrameChangesTheAdminFlag: an auth refresh records the new
// token's admin claim on the open connection, as on AWS
// (test/aws_lifecycle_test.go): a connection whose token loses the claim
// may no longer delete another member's message, and one whose token
// gains it may.
func TestAuthFrameChangesTheAdminFlag(t *testing.T) {
	t.Parallel()
	f := newTokenFixture(t)
	mint := func(user string, admin bool) string {
		tok, err := f.tk.Mint(user, time.Hour, admin)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// next reads c's frames until one of type typ.
	next := func(c *websocket.Conn, typ string) map[string]any {
		t.Helper()
		for range 20 {
			fr := readFrame(t, c)
			if fr["type"] == typ {
				return fr
			}
			t.Logf("frame %v", fr)
		}
		t.Fatalf("no %s frame in 20", typ)
		return nil
	}
	a := f.dial(t, "?token="+mint("a", false), nil)
	for i := 1; i <= 3; i++ {
		write(t, a, fmt.Sprintf(`{"action":"sendMessage","chatroomId":"room","chatMessage":"spam %d","messageType":"text message","clientMsgId":"m%d"}`, i, i))
		next(a, "ack")
	}
	del := func(c *websocket.Conn, index int, cid string) map[string]any {
		t.Helper()
		write(t, c, fmt.Sprintf(`{"action":"deleteMessage","chatroomId":"room","index":%d,"clientMsgId":%q}`, index, cid))
		for range 20 {
			if fr := readFrame(t, c); fr["type"] == "ack" || fr["type"] == "error" {
				return fr
			}
		}
		t.Fatalf("no answer to %s", cid)
		return nil
	}
	ops := f.dial(t, "?token="+mint("b", true), nil)
	if fr := del(ops, 1, "d1"); fr["type"] != "ack" {
		t.Fatalf("the admin's delete: %v", fr)
	}
	write(t, ops, `{"action":"auth","token":"`+mint("b", false)+`"}`)
	next(ops, "authed")
	if fr := del(ops, 2, "d2"); fr["type"] != "error" || fr["code"] != "forbidden" {
		t.Fatalf("a delete after the admin claim was dropped: %v, want forbidden", fr)
	}
	write(t, ops, `{"action":"auth","token":"`+mint("b", true)+`"}`)
	next(ops, "authed")
	if fr := del(ops, 2, "d3"); fr["type"] != "ack" {
		t.Fatalf("a delete after the admin claim came back: %v", fr)
	}
}

package local_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	wscore "github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// rawClient speaks WebSocket frame by frame.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func rawDial(t *testing.T, addr, user string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /?userId=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", user, addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return &rawClient{conn: conn, br: br}
}

func (c *rawClient) write(t *testing.T, f ws.Frame) {
	t.Helper()
	if err := ws.WriteFrame(c.conn, ws.MaskFrame(f)); err != nil {
		t.Fatal(err)
	}
}

// next returns the next frame, failing after a deadline.
func (c *rawClient) next(t *testing.T) ws.Frame {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := ws.ReadFrame(c.br)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

func newRawFixture(t *testing.T, srv *local.Server) string {
	t.Helper()
	st := memory.New()
	_ = st.AddMember(context.Background(), "room", "u")
	hub := local.NewHub(local.HubOptions{})
	srv.Service = &wscore.Service{Store: st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: st}, Policy: wscore.Allow}
	srv.Hub = hub
	srv.Auth = &auth.Dev{}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(wscore.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
	})
	return strings.TrimPrefix(ts.URL, "http://")
}

func TestFramingFragmentsPingsAndBadUTF8(t *testing.T) {
	t.Parallel()
	addr := newRawFixture(t, &local.Server{})
	c := rawDial(t, addr, "u")

	// A message in three fragments with a ping in the middle.
	msg := `{"action":"sendMessage","chatroomId":"room","chatMessage":"in pieces","messageType":"t"}`
	c.write(t, ws.NewFrame(ws.OpText, false, []byte(msg[:10])))
	c.write(t, ws.NewPingFrame([]byte("hb")))
	if f := c.next(t); f.Header.OpCode != ws.OpPong || string(f.Payload) != "hb" {
		t.Fatalf("got %v %q, want pong hb", f.Header.OpCode, f.Payload)
	}
	c.write(t, ws.NewFrame(ws.OpContinuation, false, []byte(msg[10:30])))
	c.write(t, ws.NewFrame(ws.OpContinuation, true, []byte(msg[30:])))
	if f := c.next(t); !strings.Contains(string(f.Payload), `"type":"ack"`) {
		t.Fatalf("reassembled message answered with %q", f.Payload)
	}

	// Invalid UTF-8 in a text message closes with 1007.
	c.write(t, ws.NewTextFrame([]byte{'{', 0xff, '}'}))
	f := c.next(t)
	code, _ := ws.ParseCloseFrameData(f.Payload)
	if f.Header.OpCode != ws.OpClose || code != ws.StatusInvalidFramePayloadData {
		t.Fatalf("got %v code %d, want close 1007", f.Header.OpCode, code)
	}
}

func TestPeerThatNeverAnswersPingsIsDropped(t *testing.T) {
	t.Parallel()
	srv := &local.Server{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}
	addr := newRawFixture(t, srv)
	c := rawDial(t, addr, "u")
	// Read (pings arrive) but never answer: the server times the peer out
	// and closes the connection.
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	pings := 0
	for {
		f, err := ws.ReadFrame(c.br)
		if err != nil {
			t.Fatalf("connection ended without a close frame after %d pings: %v", pings, err)
		}
		if f.Header.OpCode == ws.OpPing {
			pings++
			continue
		}
		if f.Header.OpCode != ws.OpClose {
			t.Fatalf("unexpected frame %v", f.Header.OpCode)
		}
		if code, _ := ws.ParseCloseFrameData(f.Payload); code != wscore.CloseRemoved {
			t.Fatalf("close code %d, want %d", code, wscore.CloseRemoved)
		}
		break
	}
	if pings == 0 {
		t.Fatal("server sent no ping")
	}
}

// TestRefusedHandshakeDoesNotReplaceTheLiveConnection: a request that is
// not a valid upgrade is refused before the duplicate policy runs.
func TestRefusedHandshakeDoesNotReplaceTheLiveConnection(t *testing.T) {
	t.Parallel()
	srv := &local.Server{}
	addr := newRawFixture(t, srv)
	srv.Service.Policy = wscore.Replace
	c := rawDial(t, addr, "u")
	for _, req := range []*http.Request{
		mustRequest(t, "GET", "http://"+addr+"/?userId=u", nil),                                                // plain GET
		mustRequest(t, "GET", "http://"+addr+"/?userId=u", map[string]string{"Origin": "http://evil.example"}), // foreign origin
	} {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("%v: status %d", req.Header, resp.StatusCode)
		}
	}
	// The live connection still works.
	c.write(t, ws.NewTextFrame([]byte(`{"action":"ping"}`)))
	if f := c.next(t); !strings.Contains(string(f.Payload), "pong") {
		t.Fatalf("live connection answered %v %q", f.Header.OpCode, f.Payload)
	}
}

func mustRequest(t *testing.T, method, url string, headers map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

// TestSocketClosesWhenItsTokenExpires: a connection opened with a token is
// closed with 4003 at the token's exp.
func TestSocketClosesWhenItsTokenExpires(t *testing.T) {
	t.Parallel()
	tk := &auth.Token{Secret: []byte("0123456789abcdef0123456789abcdef")}
	srv := &local.Server{}
	addr := newRawFixture(t, srv)
	srv.Auth = tk
	token, err := tk.Mint("u", time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", token, addr)
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := ws.ReadFrame(br)
	if err != nil {
		t.Fatalf("no close frame before the deadline: %v", err)
	}
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != wscore.CloseExpired {
		t.Fatalf("got %v code %d, want close %d", f.Header.OpCode, code, wscore.CloseExpired)
	}
}

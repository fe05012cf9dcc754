package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Wait bounds every wait of a Client.
const Wait = 10 * time.Second

// Client is a WebSocket client of a Server that collects the frames it
// receives in the background. Its methods fail the test on any error.
type Client struct {
	// ID is the connection id API Gateway (the harness) gave it.
	ID string

	tb     testing.TB
	gw     *Server
	conn   *websocket.Conn
	frames chan map[string]any
	closed chan struct{}
	err    error // why the read loop ended; read after closed
}

// Dial connects with the query string (for example "token=…" or
// "userId=uuid1") and fails the test unless $connect accepts.
func Dial(tb testing.TB, gw *Server, query string) *Client {
	tb.Helper()
	c, status, err := DialStatus(gw, query)
	if err != nil {
		tb.Fatalf("dial ?%s: status %d: %v", query, status, err)
	}
	c.tb = tb
	tb.Cleanup(func() { c.conn.CloseNow() })
	return c
}

// DialStatus connects and returns the client, or the handshake's HTTP
// status and the error when $connect refused.
func DialStatus(gw *Server, query string) (*Client, int, error) {
	c, _, status, err := DialBrowser(gw, query, "", nil)
	return c, status, err
}

// DialBrowser connects as a browser does: with an Origin header (when
// origin is not "") and offering subprotocols. It returns the selected
// subprotocol too.
func DialBrowser(gw *Server, query, origin string, subprotocols []string) (*Client, string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	u := gw.URL
	if query != "" {
		u += "?" + query
	}
	opts := &websocket.DialOptions{HTTPClient: gw.HTTPClient, Subprotocols: subprotocols}
	if origin != "" {
		opts.HTTPHeader = http.Header{"Origin": {origin}}
	}
	conn, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, "", status, err
	}
	conn.SetReadLimit(1 << 20)
	c := &Client{ID: resp.Header.Get(ConnectionIDHeader), gw: gw, conn: conn,
		frames: make(chan map[string]any, 10000), closed: make(chan struct{})}
	go c.read()
	return c, conn.Subprotocol(), http.StatusSwitchingProtocols, nil
}

// Own makes c fail tb on errors and close at the end of the test (what
// Dial does).
func (c *Client) Own(tb testing.TB) *Client {
	c.tb = tb
	tb.Cleanup(func() { c.conn.CloseNow() })
	return c
}

func (c *Client) read() {
	defer close(c.closed)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		var f map[string]any
		if err := json.Unmarshal(data, &f); err != nil {
			c.err = fmt.Errorf("server sent invalid JSON %q: %w", data, err)
			return
		}
		c.frames <- f
	}
}

// Send writes one text frame: a string as is, anything else as JSON.
func (c *Client) Send(v any) {
	c.tb.Helper()
	var data []byte
	if s, ok := v.(string); ok {
		data = []byte(s)
	} else {
		var err error
		if data, err = json.Marshal(v); err != nil {
			c.tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// SendBinary writes one binary frame (which API Gateway refuses).
func (c *Client) SendBinary(data []byte) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageBinary, data); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// Next waits for the next frame.
func (c *Client) Next() map[string]any {
	c.tb.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.tb.Fatalf("connection %s closed while waiting for a frame: %v", c.ID, c.err)
	case <-time.After(Wait):
		c.tb.Fatalf("no frame on %s within %v", c.ID, Wait)
	}
	return nil
}

// NextOfType waits for the next frame and checks its "type".
func (c *Client) NextOfType(typ string) map[string]any {
	c.tb.Helper()
	f := c.Next()
	if f["type"] != typ {
		c.tb.Fatalf("got %v on %s, want a %s frame", f, c.ID, typ)
	}
	return f
}

// ExpectNone checks that nothing more arrives for this client from what
// was sent so far: it waits until the gateway has no invocation running,
// then pings; the pong is posted after every earlier frame, so it must be
// the next frame.
func (c *Client) ExpectNone() {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := c.gw.WaitIdle(ctx); err != nil {
		c.tb.Fatalf("gateway not idle: %v", err)
	}
	c.Send(`{"action":"ping"}`)
	if f := c.Next(); f["type"] != "pong" {
		c.tb.Fatalf("unexpected frame on %s: %v", c.ID, f)
	}
}

// Close closes the connection normally and waits until the gateway has run
// its $disconnect.
func (c *Client) Close() {
	c.tb.Helper()
	_ = c.conn.Close(websocket.StatusNormalClosure, "bye")
	c.WaitGone()
}

// WaitGone waits until the gateway has finished with the connection.
func (c *Client) WaitGone() {
	c.tb.Helper()
	done := c.gw.Done(c.ID)
	if done == nil {
		c.tb.Fatalf("gateway does not know connection %s", c.ID)
	}
	select {
	case <-done:
	case <-time.After(Wait):
		c.tb.Fatalf("connection %s not finished within %v", c.ID, Wait)
	}
}

// Closed returns a channel closed when the socket closes, and the reason
// afterwards.
func (c *Client) Closed() (<-chan struct{}, func() error) {
	return c.closed, func() error { return c.err }
}

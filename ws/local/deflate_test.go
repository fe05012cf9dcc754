package local_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestDeflateOfferedIsDeclined: permessage-deflate is not offered
// (docs/operations.md, Compression): a client that offers it is upgraded
// without it (no Sec-WebSocket-Extensions in the answer, RFC 7692 section
// 5) and talks uncompressed frames as usual.
func TestDeflateOfferedIsDeclined(t *testing.T) {
	t.Parallel()
	f := newTokenFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, f.url+"/ws?token="+url.QueryEscape(f.token(t, "a", time.Hour)),
		&websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("the server accepted an extension: %q", ext)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || !strings.Contains(string(msg), `"type":"pong"`) {
		t.Fatalf("got %s %v, want a pong", msg, err)
	}
}

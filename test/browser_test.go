package test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestBrowserSupport runs the binary as a web client on another origin
// uses it: --allowed-origins (here from TRIPSENSE_ALLOWED_ORIGINS) opens
// CORS on the HTTP API and the WebSocket's Origin check; the socket opens
// with the subprotocol and no token in the URL, and authenticates with its
// first frame. Dev mode refuses "*".
func TestBrowserSupport(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	secret := "an-example-secret-of-at-least-32-bytes!!"
	s := mustStartEnv(t, []string{"TRIPSENSE_TOKEN_SECRET=" + secret, "TRIPSENSE_ALLOWED_ORIGINS=" + origin}, "--auth", "token")
	cmd := exec.Command(binPath, "token", "--user", "uuid1", "--ttl", "1h")
	cmd.Env = append(os.Environ(), "TRIPSENSE_TOKEN_SECRET="+secret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))

	do := func(method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+s.addr+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	pre := do("OPTIONS", "/v1/rooms", map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != origin || pre.Header.Get("Access-Control-Max-Age") == "" {
		t.Fatalf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	get := do("GET", "/v1/rooms", map[string]string{"Origin": origin, "Authorization": "Bearer " + token})
	if get.StatusCode != 200 || get.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("GET: %d %v", get.StatusCode, get.Header)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, resp, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}}); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %v %v, want 403", resp, err)
	}
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {origin}}, Subprotocols: []string{"tripsense.v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "tripsense.v1" {
		t.Fatalf("subprotocol %q", conn.Subprotocol())
	}
	read := func() map[string]any {
		t.Helper()
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		return m
	}
	_ = conn.Write(ctx, websocket.MessageText, []byte(`{"action":"ping"}`))
	if e := read(); e["type"] != "error" || e["code"] != "unauthorized" {
		t.Fatalf("ping before auth: %v", e)
	}
	_ = conn.Write(ctx, websocket.MessageText, []byte(`{"action":"auth","token":"`+token+`"}`))
	if a := read(); a["type"] != "authed" || a["userId"] != "uuid1" {
		t.Fatalf("auth: %v", a)
	}
	_ = conn.Write(ctx, websocket.MessageText, []byte(`{"action":"ping"}`))
	if p := read(); p["type"] != "pong" {
		t.Fatalf("ping after auth: %v", p)
	}

	// Dev identity mode refuses "*" at start.
	// (bounded: a binary that accepted it would serve until the deadline)
	devCtx, devCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer devCancel()
	dev := exec.CommandContext(devCtx, binPath, "serve", "--addr", freeAddr(t), "--data", t.TempDir(), "--allowed-origins", "*")
	outDev, err := dev.CombinedOutput()
	if err == nil || !strings.Contains(string(outDev), "refused in dev identity mode") {
		t.Fatalf("dev mode with *: %v\n%s", err, outDev)
	}
}

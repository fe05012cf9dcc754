package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense/auth"
)

// startMain runs the server in-process on a free loopback port with args
// (after --addr and --data) and stops it when the test ends.
func startMain(t *testing.T, env map[string]string, args ...string) *Main {
	t.Helper()
	return startMainWith(t, env, io.Discard, args...)
}

// startMainLog is startMain with the log (at info, as text) in w.
func startMainLog(t *testing.T, w io.Writer, args ...string) *Main {
	t.Helper()
	return startMainWith(t, nil, w, append([]string{"--log-level", "info"}, args...)...)
}

func startMainWith(t *testing.T, env map[string]string, logw io.Writer, args ...string) *Main {
	t.Helper()
	args = append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "error"}, args...)
	var stderr bytes.Buffer
	c, err := parseServeConfig(args, func(k string) string { return env[k] }, &stderr)
	if err != nil {
		t.Fatalf("config: %v %s", err, stderr.String())
	}
	m := &Main{Config: c, Log: newLogger(c, logw)}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = m.Close()
	})
	return m
}

// rawHTTP sends head on a new connection and returns the connection and a
// reader on it; the connection is closed when the test ends.
func rawHTTP(t *testing.T, addr, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// TestDebugListenerAnswersOnlyLoopbackHosts: the profiling listener has the
// DNS-rebinding defence of the main one.
func TestDebugListenerAnswersOnlyLoopbackHosts(t *testing.T) {
	t.Parallel()
	m := startMain(t, nil, "--debug-addr", "127.0.0.1:0")
	for host, want := range map[string]int{"127.0.0.1": 200, "localhost:6060": 200, "evil.example": 403, "evil.example:6060": 403} {
		req, _ := http.NewRequest("GET", "http://"+m.DebugAddr()+"/debug/pprof/cmdline", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d %s, want %d", host, resp.StatusCode, body, want)
		}
		if want == 403 && !strings.Contains(string(body), `"forbidden"`) {
			t.Errorf("Host %q: body %s", host, body)
		}
	}
}

// TestSlowBodiesAreBounded: a body that never arrives is answered after the
// read timeout, a body over the cap at once, and an unauthenticated request
// with a body at once (its body is never waited for); meanwhile an open
// WebSocket outlives both the read and the write timeout.
func TestSlowBodiesAreBounded(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 40)
	m := startMain(t, map[string]string{"TRIPSENSE_TOKEN_SECRET": secret},
		"--auth", "token", "--read-timeout", "500ms", "--header-timeout", "500ms", "--write-timeout", "1s")
	addr := m.Addr()
	tk, _ := auth.NewToken(secret)
	tok, _ := tk.Mint("uuid1", time.Hour, false)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wsc, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wsc.CloseNow()
	opened := time.Now()

	put := func(auth string, length int) string {
		return "PUT /v1/rooms/uuidroom1/cursor HTTP/1.1\r\nHost: " + addr + "\r\n" + auth +
			"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(length) + "\r\n\r\n"
	}
	// Authenticated, body never sent: answered once the read timeout passed.
	_, slow := rawHTTP(t, addr, put("Authorization: Bearer "+tok+"\r\n", 100))
	// Over the cap, unauthenticated: answered without waiting.
	_, big := rawHTTP(t, addr, put("", 200000))
	_, anon := rawHTTP(t, addr, put("", 100))
	for name, c := range map[string]struct {
		br     *bufio.Reader
		status int
	}{"too large": {big, 413}, "unauthenticated": {anon, 401}, "slow body": {slow, 400}} {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.status || !resp.Close {
			t.Fatalf("%s: %d close=%v %s, want %d and Connection: close", name, resp.StatusCode, resp.Close, body, c.status)
		}
		if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: connection still open after the answer: %v", name, err)
		}
	}
	if since := time.Since(opened); since < 500*time.Millisecond {
		t.Fatalf("the slow body was answered after %v, before the read timeout", since)
	}
	// Slow bodies one after another until the write timeout has passed too.
	for i := 0; time.Since(opened) <= time.Second; i++ {
		if i == 10 {
			t.Fatal("ten slow bodies answered within the write timeout")
		}
		_, br := rawHTTP(t, addr, put("Authorization: Bearer "+tok+"\r\n", 100))
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 400 {
			t.Fatalf("slow body %d: %v %v", i, resp, err)
		}
	}
	// The WebSocket has outlived the read and write timeouts.
	if err := wsc.Write(ctx, websocket.MessageText, []byte(`{"action":"ping"}`)); err != nil {
		t.Fatalf("websocket write after the timeouts: %v", err)
	}
	if _, b, err := wsc.Read(ctx); err != nil || !strings.Contains(string(b), "pong") {
		t.Fatalf("websocket after the timeouts: %q %v", b, err)
	}
}

// TestConnectionCaps: connections over the per-address cap are refused
// with a 429 answer at once, and a slot frees when its connection closes.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	m := startMain(t, nil, "--max-connections-per-ip", "3")
	addr := m.Addr()
	var held []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, "3 connections counted", func() bool { return m.ln.Open() == 3 })
	_, br := rawHTTP(t, addr, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("refused connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || !strings.Contains(string(body), "too many open connections from your address") {
		t.Fatalf("over the cap: %d %s", resp.StatusCode, body)
	}
	held[0].Close()
	waitFor(t, "the slot to free", func() bool { return m.ln.Open() == 2 })
	r, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("after a slot freed: %d", r.StatusCode)
	}
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func TestConnLimitFollowsTheDescriptorLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		configured int
		fds        uint64
		want       int
	}{
		{0, 0, 10000}, {0, 1 << 20, 10000}, {0, 256, 192}, {0, 40, 20}, {500, 256, 500},
	} {
		if got := connLimit(c.configured, c.fds); got != c.want {
			t.Errorf("connLimit(%d, %d) = %d, want %d", c.configured, c.fds, got, c.want)
		}
	}
}

// TestConnectRate: over --connect-rate, a WebSocket upgrade from the same
// address is refused with 429 rate_limited and Retry-After, before its
// credentials are looked at; a browser's is upgraded and closed with 4429;
// each refusal is counted in rate_limited_total{budget="connect"} and not
// logged; the HTTP API is not charged for upgrades.
func TestConnectRate(t *testing.T) {
	t.Parallel()
	logs := newSyncBuffer()
	m := startMainLog(t, logs, "--connect-rate", "2", "--metrics-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws://" + m.Addr() + "/ws?userId=uuid1"
	for i := range 2 {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatalf("upgrade %d under the rate: %v", i+1, err)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	// Refused before the credentials: a forged user gets the same answer.
	for _, q := range []string{"?userId=uuid1", "?userId=" + strings.Repeat("x", 300)} {
		_, resp, err := websocket.Dial(ctx, "ws://"+m.Addr()+"/ws"+q, nil)
		if err == nil || resp == nil {
			t.Fatalf("upgrade over the rate (%s): %v, %v", q[:12], err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "60" || !strings.Contains(string(body), `"code":"rate_limited"`) ||
			!strings.Contains(string(body), "--connect-rate") {
			t.Fatalf("over the rate: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	bc, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"tripsense.v1"}})
	if err != nil {
		t.Fatalf("a browser's upgrade over the rate is upgraded and closed: %v", err)
	}
	_, _, err = bc.Read(ctx)
	if code := websocket.CloseStatus(err); code != 4429 {
		t.Fatalf("browser over the rate: %v (close %d), want 4429", err, code)
	}
	got := scrape(t, m.MetricsAddr())
	if n := got[`tripsense_rate_limited_total{budget="connect"}`]; n != 3 {
		t.Fatalf(`rate_limited_total{budget="connect"} = %v, want 3`, n)
	}
	if n := got[`tripsense_rate_limited_total{budget="http"}`]; n != 0 {
		t.Fatalf(`rate_limited_total{budget="http"} = %v, want 0`, n)
	}
	if r, err := http.Get("http://" + m.Addr() + "/v1/rooms?userId=uuid1"); err != nil || r.StatusCode != 200 {
		t.Fatalf("the HTTP API after the refused upgrades: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	if strings.Contains(logs.String(), "websocket upgrade refused") {
		t.Fatalf("a refusal over the connect rate was logged:\n%s", logs.String())
	}
}

// TestClientKeyCountsAnIPv6HostByItsPrefix: the per-address cap counts an
// IPv6 client by its /64 (one host may use any address of it), an IPv4
// client by its address.
func TestClientKeyCountsAnIPv6HostByItsPrefix(t *testing.T) {
	t.Parallel()
	key := func(s string) string { return clientKey(netip.MustParseAddr(s)).String() }
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"::1", "::2"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"fe80::1%eth0", "fe80::2"},
	} {
		if key(c.a) != key(c.b) {
			t.Errorf("%s and %s counted apart (%s, %s)", c.a, c.b, key(c.a), key(c.b))
		}
	}
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.7", "192.0.2.8"},
		{"127.0.0.1", "::1"},
	} {
		if key(c.a) == key(c.b) {
			t.Errorf("%s and %s counted as one (%s)", c.a, c.b, key(c.a))
		}
	}
}

// TestOtherUpgradeRefusalsUnderTheConnectRate: under --connect-rate, a 429
// of another kind (the per-user limit) is still logged, and carries none
// of the connect limiter's headers.
func TestOtherUpgradeRefusalsUnderTheConnectRate(t *testing.T) {
	t.Parallel()
	logs := newSyncBuffer()
	m := startMainLog(t, logs, "--connect-rate", "50", "--duplicate-connections", "allow", "--max-connections-per-user", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws://" + m.Addr() + "/ws?userId=uuid1"
	c, resp, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if h := resp.Header.Get("X-RateLimit-Limit"); h != "" {
		t.Fatalf("an upgrade under the rate carries X-RateLimit-Limit %q", h)
	}
	_, resp, err = websocket.Dial(ctx, url, nil)
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("a second connection over the per-user limit: %v %v", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "--connect-rate") || resp.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("the per-user refusal looks like the connect rate's: %v %s", resp.Header, body)
	}
	logs.waitFor(t, "websocket upgrade refused", 10*time.Second)
}

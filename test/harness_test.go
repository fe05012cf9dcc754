package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// binPath is the tripsense binary built once by TestMain.
var binPath string

// repoRoot is the module root (the parent of this directory).
var repoRoot string

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "tripsense-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "tripsense")
	build := exec.Command("go", "build", "-race", "-o", binPath, "./cmd/tripsense")
	if runtime.GOARCH == "arm" || os.Getenv("TRIPSENSE_E2E_NORACE") != "" {
		build = exec.Command("go", "build", "-o", binPath, "./cmd/tripsense")
	}
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build tripsense: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running tripsense binary.
type server struct {
	t       testing.TB
	addr    string
	dataDir string
	args    []string
	env     []string // extra environment, KEY=VALUE
	prefix  []string // a command the binary runs under, e.g. prlimit --nofile=256 --
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mustStart starts the binary on a free port with a fresh data directory.
func mustStart(t testing.TB, args ...string) *server {
	t.Helper()
	return mustStartEnv(t, nil, args...)
}

// mustStartEnv is mustStart with extra environment variables.
func mustStartEnv(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	s := &server{t: t, addr: freeAddr(t), dataDir: t.TempDir(), args: args, env: env}
	s.mustRun()
	t.Cleanup(func() { s.stop() })
	return s
}

// mustRun (re)starts the binary on the server's address and data directory
// and waits for /healthz. The rate limits are lifted: tests poll the API
// while they wait for events, and the limits have tests of their own.
func (s *server) mustRun() {
	s.t.Helper()
	args := append([]string{"serve", "--addr", s.addr, "--data", s.dataDir, "--msg-rate", "100000", "--msg-burst", "100000", "--control-rate", "100000", "--control-burst", "100000", "--http-rate", "0", "--connect-rate", "0"}, s.args...)
	if len(s.prefix) > 0 {
		s.cmd = exec.Command(s.prefix[0], append(append(s.prefix[1:len(s.prefix):len(s.prefix)], binPath), args...)...)
	} else {
		s.cmd = exec.Command(binPath, args...)
	}
	s.logs = &syncBuffer{}
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	s.cmd.Env = append(append(os.Environ(), "GORACE=halt_on_error=1"), s.env...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("server exited during start:\n%s", s.logs.String())
		case <-time.After(20 * time.Millisecond): // poll interval, bounded by the deadline
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server not healthy within 30s:\n%s", s.logs.String())
		}
	}
}

// kill9 kills the server without any chance to flush.
func (s *server) kill9() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("server did not stop within 30s after SIGTERM:\n%s", s.logs.String())
	}
	if strings.Contains(s.logs.String(), "WARNING: DATA RACE") {
		s.t.Errorf("data race in server:\n%s", s.logs.String())
	}
}

// tool runs a subcommand of the binary (the server must be stopped when it
// opens the store) and returns its stdout.
func (s *server) tool(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(binPath, append(args, "--data", s.dataDir)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		s.t.Fatalf("tripsense %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

// client is a WebSocket client that collects frames in the background.
type client struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan map[string]any
	closed chan struct{}
	err    error // why the read loop ended
}

func mustDial(t testing.TB, s *server, user string) *client {
	t.Helper()
	c, err := dial(s, user)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	c.t = t
	t.Cleanup(func() { c.conn.CloseNow() })
	return c
}

func dial(s *server, user string) (*client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws?userId="+user, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	c := &client{conn: conn, frames: make(chan map[string]any, 100000), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		for {
			_, data, err := conn.Read(context.Background())
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
	}()
	return c, nil
}

func (c *client) send(v any) {
	c.t.Helper()
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next waits for the next frame, failing after a deadline.
func (c *client) next() map[string]any {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(10 * time.Second):
		c.t.Fatalf("no frame within 10s (read loop: %v)", c.err)
		return nil
	}
}

// nextOfType waits for the next frame and checks its type.
func (c *client) nextOfType(typ string) map[string]any {
	c.t.Helper()
	f := c.next()
	if f["type"] != typ {
		c.t.Fatalf("got %v, want a %s frame", f, typ)
	}
	return f
}

// expectNone checks that no frame is waiting after a ping round trip: the
// server answers frames of one connection in order, and fan-out to this
// connection happens before the sender's ack, so a pong proves that nothing
// else was queued for it.
func (c *client) expectNone() {
	c.t.Helper()
	c.send(`{"action":"ping"}`)
	if f := c.next(); f["type"] != "pong" {
		c.t.Fatalf("unexpected frame %v", f)
	}
}

func sendMsg(user, room, body string) map[string]string {
	return map[string]string{"action": "sendMessage", "userId": user, "chatroomId": room, "chatMessage": body, "messageType": "text message"}
}

// getJSON does an HTTP request as user and decodes the JSON answer.
func httpJSON(t testing.TB, method, url, user string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-User-Id", user)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s %s: invalid JSON %q", method, url, data)
	}
	return resp.StatusCode, v
}

// lines splits a command's output into non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// server is the real tripsense binary running for a test.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  string
	done chan error
}

// mustStartServer builds cmd/tripsense into a temp dir and starts it on a
// free loopback port with a fresh data directory and the rate limits out of
// the way. It is stopped with SIGTERM when the test ends.
func mustStartServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tripsense")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/tripsense/tripsense/cmd/tripsense")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tripsense: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", filepath.Join(dir, "data"), "--no-demo",
		"--msg-rate", "1000000", "--msg-burst", "1000000", "--http-rate", "0", "--connect-rate", "0", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, addr: addr, log: logPath, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })

	// Poll /healthz until 200, the process exits, or the deadline passes.
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy within 30s (last error %v)\n%s", err, s.logText())
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("server exited before it was healthy: %v\n%s", err, s.logText())
		case <-tick.C:
		}
	}
}

func (s *server) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// stop sends SIGTERM and waits (bounded) for the exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("server exit after SIGTERM: %v\n%s", err, s.logText())
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("server did not exit within 20s of SIGTERM\n%s", s.logText())
	}
}

// mustBench runs Main with --json against s and decodes its output.
func mustBench(t *testing.T, s *server, args ...string) Output {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--url", "http://" + s.addr, "--json", "--progress", "0", "--pid", strconv.Itoa(s.cmd.Process.Pid)}, args...)
	var stdout, stderr bytes.Buffer
	err := Main(ctx, args, &stdout, &stderr)
	var out Output
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
		t.Fatalf("bench %q: err %v; output is not JSON (%v):\n%s\nstderr:\n%s", args, err, jerr, stdout.String(), stderr.String())
	}
	if err != nil || !out.OK || len(out.Reports) != 1 {
		t.Fatalf("bench %q: err %v, ok %v:\n%s\nstderr:\n%s\nserver log:\n%s", args, err, out.OK, stdout.String(), stderr.String(), s.logText())
	}
	return out
}

func TestBenchAgainstTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server binary")
	}
	s := mustStartServer(t)

	t.Run("fanout", func(t *testing.T) {
		out := mustBench(t, s, "--conns", "20", "--room-size", "5", "--senders", "4", "--window", "4",
			"--messages", "200", "--duration", "60s", "--warmup", "0s")
		f := out.Reports[0].Fanout
		if f == nil {
			t.Fatal("no fanout result")
		}
		if f.Loss.LostDeliveries != 0 || f.Loss.Dups != 0 || !f.Loss.OK() {
			t.Fatalf("loss = %+v", f.Loss)
		}
		// 200 messages, each to the 4 other members of its room of 5.
		if f.Acked != 200 || f.Delivered != 800 || f.Loss.Expected != 800 || f.DeliveredPerSec <= 0 {
			t.Fatalf("acked %d delivered %d expected %d rate %.0f; want 200, 800, 800, > 0", f.Acked, f.Delivered, f.Loss.Expected, f.DeliveredPerSec)
		}
		if f.Latency.Count != 800 || f.Latency.P99Ms <= 0 || f.Latency.P50Ms > f.Latency.P99Ms {
			t.Fatalf("latency = %+v", f.Latency)
		}
	})

	t.Run("paced", func(t *testing.T) {
		out := mustBench(t, s, "--conns", "6", "--room-size", "3", "--senders", "2", "--rate", "200",
			"--messages", "60", "--duration", "30s", "--warmup", "0s")
		f := out.Reports[0].Fanout
		// 200 deliveries/s in rooms of 3 is 100 sends/s: 60 sends take ~0.6 s.
		if f.TargetSendsPerSec != 100 || f.Acked != 60 || f.Delivered != 120 || !f.Loss.OK() {
			t.Fatalf("paced run = %+v", f)
		}
		if f.DurationSec < 0.4 {
			t.Fatalf("60 sends at 100/s took %.2fs: not paced", f.DurationSec)
		}
	})

	t.Run("catchup", func(t *testing.T) {
		// More than one page (1,000) so the HTTP path pages.
		out := mustBench(t, s, "--mode", "catchup", "--missed", "1500", "--writers", "4", "--repeat", "2")
		c := out.Reports[0].Catchup
		// The log also holds the room's five membership entries (four
		// writers and the reader joined), which the catch-up brings too.
		const entries = 1500 + 4 + 1
		if c == nil || c.HTTP.Messages != entries || c.WS.Messages != entries || c.HTTP.Requests != 2 {
			t.Fatalf("catchup = %+v", c)
		}
		if c.HTTP.Lost+c.HTTP.Dups+c.WS.Lost+c.WS.Dups != 0 || c.HTTP.MedianMs <= 0 || c.WS.MedianMs <= 0 {
			t.Fatalf("catchup = %+v", c)
		}
	})

	t.Run("durable", func(t *testing.T) {
		out := mustBench(t, s, "--mode", "durable", "--durable-senders", "1,3", "--window", "1",
			"--messages", "60", "--duration", "30s", "--warmup", "0s")
		d := out.Reports[0].Durable
		if len(d) != 2 || d[0].Acked != 60 || d[1].Acked != 60 || d[1].AcksPerSec <= 0 || len(d[1].Problems) != 0 {
			t.Fatalf("durable = %+v", d)
		}
	})

	t.Run("idle", func(t *testing.T) {
		out := mustBench(t, s, "--mode", "idle", "--idle", "30", "--room-size", "5")
		d := out.Reports[0].Idle
		if d == nil || d.Conns != 30 || d.Dropped != 0 || d.ServerRSSBeforeKB <= 0 || d.ServerRSSAfterKB <= 0 {
			t.Fatalf("idle = %+v", d)
		}
	})
}

package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DynamoEndpointEnv names an already running DynamoDB-compatible endpoint
// to use instead of starting dynalite.
const DynamoEndpointEnv = "TRIPSENSE_TEST_DYNAMO_ENDPOINT"

var (
	dynaOnce     sync.Once
	dynaEndpoint string
	dynaErr      error
	// dynaGuard is the write end of the guard's stdin. It is never written
	// and never closed: when the test process exits, for any reason, the
	// pipe closes and the guard kills dynalite. Keeping it in a package
	// variable keeps its finalizer from closing it early.
	dynaGuard io.WriteCloser
)

// Dynalite returns the endpoint of a dynalite server on 127.0.0.1, started
// from the repository's node_modules the first time a test of the process
// asks for it (tables are created instantly, in memory). Tests share it and
// isolate themselves with their own table prefix. It fails the test with
// instructions when the npm tools are missing; it never skips.
func Dynalite(tb testing.TB) string {
	tb.Helper()
	if ep := os.Getenv(DynamoEndpointEnv); ep != "" {
		return ep
	}
	dynaOnce.Do(func() { dynaEndpoint, dynaErr = startDynalite() })
	if dynaErr != nil {
		tb.Fatalf("cannot start dynalite: %v\nThe AWS runtime tests need the pinned npm tools: run `npm ci` (or `make tools`) at the repository root, or set %s to a DynamoDB-compatible endpoint.", dynaErr, DynamoEndpointEnv)
	}
	return dynaEndpoint
}

// RepoRoot returns the module root: the nearest parent directory of the
// working directory with this module's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/tripsense/tripsense\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of github.com/tripsense/tripsense not found above the working directory")
		}
		dir = parent
	}
}

// guardScript runs dynalite ("$@") and kills it when its own stdin reaches
// EOF, that is when the test process is gone.
const guardScript = `exec 3<&0
"$@" </dev/null &
pid=$!
(cat <&3 >/dev/null; kill $pid 2>/dev/null) >/dev/null 2>&1 &
wait $pid`

func startDynalite() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing: %w", bin, err)
	}
	var lastErr error
	for range 3 { // a probed free port can be taken before dynalite binds it
		ep, err := tryDynalite(bin)
		if err == nil {
			return ep, nil
		}
		lastErr = err
	}
	return "", lastErr
}

func tryDynalite(bin string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("sh", "-c", guardScript, "dynalite-guard", bin,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening at") {
				ready <- nil
				for sc.Scan() { // drain, so that dynalite never blocks on stdout
				}
				return
			}
		}
		ready <- errors.New("dynalite exited before listening")
	}()
	select {
	case err := <-ready:
		if err != nil {
			stdin.Close()
			_ = cmd.Wait()
			return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(30 * time.Second):
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", errors.New("dynalite did not listen within 30s")
	}
	go func() { _ = cmd.Wait() }()
	dynaGuard = stdin
	return "http://127.0.0.1:" + strconv.Itoa(port), nil
}

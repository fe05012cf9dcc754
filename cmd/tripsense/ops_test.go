package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var flagVar = regexp.MustCompile(`\((TRIPSENSE_[A-Z_]+)\)$`)

// serveVars maps every serve flag to the variable its help names.
func serveVars(t *testing.T) map[string]string {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c Config
	serveFlags(fs, &c, &envReader{getenv: env(nil)})
	vars := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		m := flagVar.FindStringSubmatch(f.Usage)
		if m == nil {
			t.Errorf("--%s: its help %q does not end with its variable", f.Name, f.Usage)
			return
		}
		vars[f.Name] = m[1]
	})
	if len(vars) < 24 {
		t.Fatalf("only %d flags name a variable", len(vars))
	}
	return vars
}

// TestEveryInvalidEnvValueIsRefused: for every serve flag's variable, a
// value that is not valid refuses the start with an error naming the
// variable (even when the flag is given too).
func TestEveryInvalidEnvValueIsRefused(t *testing.T) {
	t.Parallel()
	// Any non-empty path is a valid data directory.
	valid := map[string]bool{"TRIPSENSE_DATA": true}
	for name, v := range serveVars(t) {
		if valid[v] {
			continue
		}
		for _, bad := range []string{"not!valid", "two words"} {
			var stderr bytes.Buffer
			_, err := parseServeConfig(nil, env(map[string]string{v: bad}), &stderr)
			if err == nil || !strings.Contains(err.Error(), v) {
				t.Errorf("%s=%q (--%s): error %v, want one naming %s", v, bad, name, err, v)
			}
		}
	}
	for k, v := range map[string]string{"TRIPSENSE_NO_DEMO": "yes", "TRIPSENSE_MSG_RATE": "fast", "TRIPSENSE_QUEUE_LIMIT": "5", "TRIPSENSE_READ_TIMEOUT": "30", "TRIPSENSE_MSG_RATE ": "NaN"} {
		k = strings.TrimSpace(k)
		_, err := parseServeConfig(nil, env(map[string]string{k: v}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	// A flag does not hide a broken variable.
	if _, err := parseServeConfig([]string{"--msg-rate", "5"}, env(map[string]string{"TRIPSENSE_MSG_RATE": "fast"}), io.Discard); err == nil {
		t.Error("TRIPSENSE_MSG_RATE=fast accepted because --msg-rate was given")
	}
	// Valid values still work, empty means unset.
	c, err := parseServeConfig(nil, env(map[string]string{"TRIPSENSE_NO_DEMO": "true", "TRIPSENSE_MSG_RATE": "2.5", "TRIPSENSE_QUEUE_LIMIT": "", "TRIPSENSE_READ_TIMEOUT": "5s"}), io.Discard)
	if err != nil || c.Demo || c.MsgRate != 2.5 || c.QueueLimit != 1024 || c.ReadTimeout != 5*time.Second {
		t.Fatalf("valid values: %+v %v", c, err)
	}
}

// TestCommandLine: -h exits 0, a missing --user is a usage error, version
// prints the build.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"serve", "-h"}, 0, "TRIPSENSE_ADDR"},
		{[]string{"-h"}, 0, "backup"},
		{[]string{"members", "add", "-h"}, 0, "TRIPSENSE_DATA"},
		{[]string{"token", "-h"}, 0, "-user"},
		{[]string{"token"}, 2, "--user is required"},
		{[]string{"backup"}, 2, "--out is required"},
		{[]string{"restore"}, 2, "--in is required"},
		{[]string{"serve", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"version"}, 0, "tripsense "},
		{[]string{"--version"}, 0, "tripsense "},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tc.args, env(map[string]string{"TRIPSENSE_TOKEN_SECRET": strings.Repeat("k", 40)}), &out, &out)
		if code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%q: exit %d (want %d), output %q (want %q in it)", tc.args, code, tc.code, out.String(), tc.out)
		}
	}
}

// TestReadyzFailsWhenTheStoreIsClosed: /readyz reads the store; /healthz
// says only that the process serves.
func TestReadyzFailsWhenTheStoreIsClosed(t *testing.T) {
	t.Parallel()
	m := startMain(t, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + m.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if err := m.store.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "store") {
		t.Fatalf("readyz with the store closed: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}

// TestBusyPortFailsBeforeTheStore: nothing is written to the data
// directory when the port is taken.
func TestBusyPortFailsBeforeTheStore(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	code := run(context.Background(), []string{"--addr", ln.Addr().String(), "--data", data}, env(nil), &out, &out)
	if code != 1 || !strings.Contains(out.String(), "--addr") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created: %v", err)
	}
}

// TestSecondServerOnTheSameDataDir gets a message that says so.
func TestSecondServerOnTheSameDataDir(t *testing.T) {
	t.Parallel()
	m := startMain(t, nil)
	var out bytes.Buffer
	code := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--data", m.Config.DataDir}, env(nil), &out, &out)
	if code != 1 || !strings.Contains(out.String(), "in use by another tripsense") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	code = run(context.Background(), []string{"messages", "--room", "uuidroom1", "--data", m.Config.DataDir, "--addr", m.Addr()}, env(nil), &out, &out)
	if code != 1 || !strings.Contains(out.String(), "http://"+m.Addr()+"/v1/rooms/uuidroom1/messages") {
		t.Fatalf("messages while the server runs: exit %d: %s", code, out.String())
	}
}

// syncEpoch returns the epoch of GET /v1/sync and of a WebSocket sync's
// syncDone, and the Tripsense-Epoch header.
func syncEpoch(t *testing.T, addr string) (body, frame, header string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/sync", nil)
	req.Header.Set("X-User-Id", "uuid1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Epoch string `json:"epoch"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws?userId=uuid1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"sync"}`)); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Type, Epoch string }
		_ = json.Unmarshal(b, &f)
		if f.Type == "syncDone" {
			return s.Epoch, f.Epoch, resp.Header.Get("Tripsense-Epoch")
		}
	}
	t.Fatal("no syncDone")
	return
}

// TestBackupAndRestoreThroughTheServer: an admin backs up the running
// server, a restore of it into another data directory serves the same
// messages under a new epoch that clients see in sync answers, and a
// non-admin may not take a backup.
func TestBackupAndRestoreThroughTheServer(t *testing.T) {
	t.Parallel()
	m := startMain(t, nil)
	addr := m.Addr()
	for i := range 3 {
		put, _ := http.NewRequest("PUT", "http://"+addr+"/v1/rooms/uuidroom1/cursor", strings.NewReader(`{"lastRead":0}`))
		put.Header.Set("X-User-Id", "uuid1")
		put.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != 200 {
			t.Fatalf("put %d: %v %v", i, resp, err)
		}
	}
	e1, e2, e3 := syncEpoch(t, addr)
	if e1 == "" || e1 != e2 || e1 != e3 || e1 != m.store.Epoch() {
		t.Fatalf("epochs: body %q, syncDone %q, header %q, store %q", e1, e2, e3, m.store.Epoch())
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	var o bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--addr", addr, "--out", out}, env(nil), &o, &o); code != 0 {
		t.Fatalf("backup: exit %d %s", code, o.String())
	}
	if !strings.Contains(o.String(), "backup of epoch "+e1) {
		t.Fatalf("backup: %s", o.String())
	}
	o.Reset()
	if code := run(context.Background(), []string{"backup", "--addr", addr, "--out", filepath.Join(dir, "x.db")}, env(map[string]string{"TRIPSENSE_ADMINS": "uuid1"}), &o, &o); code != 1 || !strings.Contains(o.String(), "403") {
		t.Fatalf("backup as a non-admin: exit %d %s", code, o.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !os.IsNotExist(err) {
		t.Fatal("a refused backup left a file")
	}
	// Restoring over the running server's directory is refused.
	o.Reset()
	if code := run(context.Background(), []string{"restore", "--in", out, "--data", m.Config.DataDir}, env(nil), &o, &o); code != 1 || !strings.Contains(o.String(), "stop the server") {
		t.Fatalf("restore over a running server: exit %d %s", code, o.String())
	}
	data2 := filepath.Join(dir, "data2")
	o.Reset()
	if code := run(context.Background(), []string{"restore", "--in", out, "--data", data2}, env(nil), &o, &o); code != 0 {
		t.Fatalf("restore: exit %d %s", code, o.String())
	}
	m2 := startMain(t, nil, "--data", data2)
	r1, r2, r3 := syncEpoch(t, m2.Addr())
	if r1 == "" || r1 == e1 || r1 != r2 || r1 != r3 {
		t.Fatalf("epochs after restore: body %q, syncDone %q, header %q (before %q)", r1, r2, r3, e1)
	}
	if !strings.Contains(o.String(), r1) {
		t.Fatalf("restore output does not name the new epoch %s: %s", r1, o.String())
	}
	req, _ := http.NewRequest("GET", "http://"+m2.Addr()+"/v1/rooms", nil)
	req.Header.Set("X-User-Id", "uuid1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "uuidroom1") || !strings.Contains(string(b), "uuidroom2") {
		t.Fatalf("restored rooms: %s", b)
	}
}

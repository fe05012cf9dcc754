package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeCommandsVerbatim runs the README's wscat sessions and curl
// commands exactly as written, against a fresh server; only the port 8080 is
// replaced by the test server's. Blocks are tagged with HTML comments:
// <!-- wscat:A --> (a terminal; "$" starts wscat, ">" is typed, "<" is
// expected), <!-- wscat:A ^C --> (Ctrl+C in that terminal) and <!-- curl -->
// ("$" runs a command, the lines after it are its expected JSON output).
// Values of createTime, updatedAt, editedAt, deletedAt and epoch are checked
// for format, not value.
func TestReadmeCommandsVerbatim(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join(repoRoot, "node_modules", ".bin", "wscat")); err != nil {
		t.Fatalf("wscat is not installed: run `npm ci` (make test does): %v", err)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := mustStart(t)
	port := s.addr[strings.LastIndex(s.addr, ":")+1:]
	fix := func(cmd string) string { return strings.ReplaceAll(cmd, "localhost:8080", "localhost:"+port) }
	env := append(os.Environ(), "PATH="+filepath.Join(repoRoot, "node_modules", ".bin")+string(os.PathListSeparator)+os.Getenv("PATH"), "npm_config_update_notifier=false")

	terms := map[string]*wscat{}
	defer func() {
		for _, w := range terms {
			w.stop()
		}
	}()
	blocks := parseReadme(t, string(readme))
	if len(blocks) < 6 {
		t.Fatalf("found %d tagged blocks in README.md", len(blocks))
	}
	ran := 0
	for _, b := range blocks {
		switch {
		case b.kind == "ctrl-c":
			// The server handles the close asynchronously; its log says when
			// the cursors are recorded.
			before := strings.Count(s.logs.String(), "msg=disconnected")
			terms[b.term].stop()
			delete(terms, b.term)
			waitFor(t, "the server to record "+b.term+"'s disconnect", func() bool {
				return strings.Count(s.logs.String(), "msg=disconnected") > before
			})
		case b.kind == "wscat":
			for _, line := range b.lines {
				switch {
				case strings.HasPrefix(line, "$ "):
					terms[b.term] = startWscat(t, fix(line[2:]), env)
					ran++
				case strings.HasPrefix(line, "> "):
					terms[b.term].typeLine(line[2:])
				case strings.HasPrefix(line, "< "):
					got := terms[b.term].nextJSON()
					mustMatchJSON(t, "wscat "+b.term, line[2:], got)
				}
			}
		case b.kind == "curl":
			for i := 0; i < len(b.lines); i++ {
				line := b.lines[i]
				if !strings.HasPrefix(line, "$ ") {
					continue
				}
				cmd := exec.Command("bash", "-c", fix(line[2:]))
				cmd.Env = env
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				ran++
				if i+1 < len(b.lines) && !strings.HasPrefix(b.lines[i+1], "$ ") {
					mustMatchJSON(t, line, b.lines[i+1], strings.TrimSpace(string(out)))
				}
			}
		}
	}
	if ran < 5 {
		t.Fatalf("ran only %d commands", ran)
	}
}

type readmeBlock struct {
	kind, term string
	lines      []string
}

func parseReadme(t *testing.T, text string) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	var pending *readmeBlock
	var in *readmeBlock
	for _, line := range strings.Split(text, "\n") {
		switch {
		case in != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, *in)
			in = nil
		case in != nil:
			in.lines = append(in.lines, line)
		case strings.HasPrefix(line, "<!-- wscat:") && strings.HasSuffix(line, " ^C -->"):
			blocks = append(blocks, readmeBlock{kind: "ctrl-c", term: strings.TrimSuffix(strings.TrimPrefix(line, "<!-- wscat:"), " ^C -->")})
		case strings.HasPrefix(line, "<!-- wscat:"):
			pending = &readmeBlock{kind: "wscat", term: strings.TrimSuffix(strings.TrimPrefix(line, "<!-- wscat:"), " -->")}
		case line == "<!-- curl -->":
			pending = &readmeBlock{kind: "curl"}
		case pending != nil && strings.HasPrefix(line, "```"):
			in, pending = pending, nil
		}
	}
	return blocks
}

// wscat is one terminal running wscat.
type wscat struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startWscat(t *testing.T, command string, env []string) *wscat {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+command)
	cmd.Env = env
	cmd.Dir = repoRoot
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Its own process group, so stop reaches npx and the node process it runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	w := &wscat{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			// wscat prefixes lines with its prompt ("> ") or "< ".
			l := strings.TrimSpace(sc.Text())
			for strings.HasPrefix(l, "> ") || strings.HasPrefix(l, "< ") {
				l = strings.TrimSpace(l[2:])
			}
			if strings.HasPrefix(l, "{") {
				w.lines <- l
			}
		}
		close(w.lines)
	}()
	// wscat drops what is typed before it has connected (a person waits for
	// "Connected"): ping until the first pong shows the connection is open.
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.typeLine(`{"action":"ping"}`)
		select {
		case l, ok := <-w.lines:
			if !ok {
				t.Fatalf("%s exited before connecting", command)
			}
			if strings.Contains(l, `"pong"`) {
				return w
			}
			t.Fatalf("%s: unexpected first frame %s", command, l)
		case <-time.After(300 * time.Millisecond): // retry interval, bounded by the deadline
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not connect within 20s", command)
		}
	}
}

func (w *wscat) typeLine(s string) {
	w.t.Helper()
	if _, err := io.WriteString(w.stdin, s+"\n"); err != nil {
		w.t.Fatalf("type %s: %v", s, err)
	}
}

func (w *wscat) nextJSON() string {
	w.t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			w.t.Fatal("wscat exited")
		}
		return l
	case <-time.After(10 * time.Second):
		w.t.Fatal("wscat printed nothing within 10s")
		return ""
	}
}

// stop is Ctrl+C: SIGINT to the terminal's process group.
func (w *wscat) stop() {
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// mustMatchJSON compares got with the README's want; timestamps only need
// the right format.
func mustMatchJSON(t *testing.T, what, want, got string) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: README's expected output is not JSON: %s", what, want)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: output is not JSON: %s", what, got)
	}
	if err := matchJSON(w, g, ""); err != nil {
		t.Fatalf("%s:\n want %s\n  got %s\n %v", what, want, got, err)
	}
}

func matchJSON(want, got any, path string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: different objects", path)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s missing", path, k)
			}
			if k == "createTime" || k == "updatedAt" || k == "editedAt" || k == "deletedAt" {
				if _, err := time.Parse("2006-01-02T15:04:05.000Z", fmt.Sprint(gv)); err != nil {
					return fmt.Errorf("%s.%s = %v: %v", path, k, gv, err)
				}
				continue
			}
			if k == "epoch" {
				// A fresh store's random epoch: 16 hex digits.
				if e := fmt.Sprint(gv); len(e) != 16 || strings.Trim(e, "0123456789abcdef") != "" {
					return fmt.Errorf("%s.%s = %v: want 16 hex digits", path, k, gv)
				}
				continue
			}
			if err := matchJSON(wv, gv, path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: different arrays", path)
		}
		for i := range w {
			if err := matchJSON(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s = %v, want %v", path, got, want)
		}
		return nil
	}
}

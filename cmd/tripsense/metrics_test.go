package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// scrape reads /metrics at addr into series -> value (the exposition's
// "name{labels}" as written).
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{} // signalled after every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		select {
		case s.wrote <- struct{}{}:
		default:
		}
	}()
	return s.b.Write(p)
}

// waitFor waits until the log holds substr, or fails t after d.
func (s *syncBuffer) waitFor(t *testing.T, substr string, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for !strings.Contains(s.String(), substr) {
		select {
		case <-s.wrote:
		case <-timer.C:
			t.Fatalf("the log never said %q:\n%s", substr, s.String())
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMetricsMoveWhenAMessageIsSent: one message from uuid1 to uuidroom2
// (where uuid2 is online) moves the send, commit latency, frames in and
// out and fan-out metrics; a refused upgrade is counted and logged with its
// reason and the client's address.
func TestMetricsMoveWhenAMessageIsSent(t *testing.T) {
	t.Parallel()
	logs := newSyncBuffer()
	m := startMainLog(t, logs, "--metrics-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(user string) *websocket.Conn {
		c, _, err := websocket.Dial(ctx, "ws://"+m.Addr()+"/ws?userId="+user, &websocket.DialOptions{HTTPHeader: http.Header{"X-Client-Version": []string{"test-app/1.2"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	a, b := dial("uuid1"), dial("uuid2")
	before := scrape(t, m.MetricsAddr())
	if before[`tripsense_connections{state="websocket"}`] != 2 {
		t.Fatalf("websocket connections: %v", before[`tripsense_connections{state="websocket"}`])
	}
	if err := a.Write(ctx, websocket.MessageText, []byte(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"hi","messageType":"text"}`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := b.Read(ctx); err != nil || !strings.Contains(string(msg), `"type":"message"`) {
		t.Fatalf("uuid2 got %s %v", msg, err)
	}
	if _, msg, err := a.Read(ctx); err != nil || !strings.Contains(string(msg), `"type":"ack"`) {
		t.Fatalf("uuid1 got %s %v", msg, err)
	}
	// A refused upgrade: an unknown user id is fine in dev mode, a bad one is not.
	if _, _, err := websocket.Dial(ctx, "ws://"+m.Addr()+"/ws?userId=a&userId=b", nil); err == nil {
		t.Fatal("upgrade with two userIds succeeded")
	}
	moved := map[string]float64{
		`tripsense_sends_total{result="stored"}`:          1,
		`tripsense_append_seconds_count`:                  1,
		`tripsense_frames_in_total{action="sendMessage"}`: 1,
		`tripsense_frames_out_total{type="message"}`:      1,
		`tripsense_frames_out_total{type="ack"}`:          1,
		`tripsense_fanout_seconds_count`:                  1,
		`tripsense_ws_upgrades_total{result="401"}`:       1,
	}
	// Some are observed just after the frame they time went out (the
	// fan-out's duration once it returned): wait until each moved, then
	// check that none moved more.
	after := scrape(t, m.MetricsAddr())
	for deadline := time.Now().Add(10 * time.Second); ; after = scrape(t, m.MetricsAddr()) {
		all := true
		for series, want := range moved {
			all = all && after[series]-before[series] >= want
		}
		if all || time.Now().After(deadline) {
			break
		}
	}
	for series, want := range moved {
		if got := after[series] - before[series]; got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	// The send's time in the server is recorded once its answer is
	// queued, which may be just after the client read it.
	const answered = `tripsense_send_answer_seconds_count`
	for deadline := time.Now().Add(10 * time.Second); after[answered]-before[answered] != 1; after = scrape(t, m.MetricsAddr()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s moved by %v, want 1", answered, after[answered]-before[answered])
		}
	}
	if after[`tripsense_ws_upgrades_total{result="upgraded"}`] != 2 {
		t.Errorf("upgrades %v", after[`tripsense_ws_upgrades_total{result="upgraded"}`])
	}
	build := false
	for k, v := range after {
		build = build || (strings.HasPrefix(k, "tripsense_build_info{") && strings.Contains(k, `version="`) && v == 1)
	}
	if !build {
		t.Error("no tripsense_build_info")
	}
	if after["tripsense_store_file_bytes"] <= 0 {
		t.Error("store size")
	}
	for _, gauge := range []string{"tripsense_store_queued_writes", "tripsense_store_queued_bytes"} {
		if _, ok := after[gauge]; !ok {
			t.Errorf("no %s", gauge)
		}
	}
	// The send's commit (and any other write meanwhile) is counted and timed.
	commits := after["tripsense_store_commits_total"] - before["tripsense_store_commits_total"]
	if commits < 1 || after["tripsense_store_commit_seconds_count"]-before["tripsense_store_commit_seconds_count"] < 1 {
		t.Errorf("store commits moved by %v, commit_seconds_count by %v", commits,
			after["tripsense_store_commit_seconds_count"]-before["tripsense_store_commit_seconds_count"])
	}
	// It went through the write-ahead log; bbolt's checkpoint of it comes
	// within 50 ms, counted and timed, and each checkpoint writes at least
	// a data page, the freelist and the meta page.
	// (The histogram is observed after the counters moved: wait for it.)
	const observed = "tripsense_store_checkpoint_seconds_count"
	for deadline := time.Now().Add(10 * time.Second); after[observed]-before[observed] < 1; after = scrape(t, m.MetricsAddr()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s moved by %v, want the send's checkpoint", observed, after[observed]-before[observed])
		}
	}
	// A checkpoint is counted (and its pages added) before it is observed,
	// but one scrape reads the counters and the histogram one after the
	// other: the scrape after the one that saw it observed sees it counted.
	ck := after[observed] - before[observed]
	counted := scrape(t, m.MetricsAddr())
	if n := counted["tripsense_store_checkpoints_total"] - before["tripsense_store_checkpoints_total"]; n < ck {
		t.Errorf("store_checkpoints_total moved by %v for %v checkpoints observed", n, ck)
	}
	if pages := counted["tripsense_store_page_writes_total"] - before["tripsense_store_page_writes_total"]; pages < 3*ck {
		t.Errorf("store page writes moved by %v for %v checkpoints", pages, ck)
	}
	// The refusal and the connections are in the log, with addresses (the
	// refusal's line is written after its answer went out).
	logs.waitFor(t, "websocket upgrade refused", 10*time.Second)
	l := logs.String()
	if !strings.Contains(l, `msg="websocket upgrade refused" status=401 reason="unauthorized: userId and token may each be given once" remote=127.0.0.1:`) {
		t.Errorf("no refusal log line with reason and remote address:\n%s", l)
	}
	if !strings.Contains(l, "remote=127.0.0.1:") || !strings.Contains(l, "client=test-app/1.2") || !strings.Contains(l, "msg=connected") {
		t.Errorf("no connected line with the client version:\n%s", l)
	}
}

package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/store/memory"
	"github.com/tripsense/tripsense/ws"
)

func value(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, s := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range s.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue()
			case s.Gauge != nil:
				return s.Gauge.GetValue()
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s %v", name, labels)
	return 0
}

// failing is a store whose reads fail.
type failing struct{ tripsense.Store }

func (failing) Head(context.Context, string) (int64, error) { return 0, errors.New("disk on fire") }

func TestStoreDecorator(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "v1", Revision: "abc", GoVersion: "go1"})
	st := m.Store(memory.New())
	ctx := context.Background()
	nm := tripsense.NewMessage{Room: "r", UserID: "u", Body: "hi", Type: "text", ClientMsgID: "c1"}
	if _, _, err := st.Append(ctx, nm); err != nil {
		t.Fatal(err)
	}
	if _, dup, _ := st.Append(ctx, nm); !dup {
		t.Fatal("no duplicate")
	}
	if _, _, err := st.Append(ctx, tripsense.NewMessage{}); err == nil {
		t.Log("memory store accepted an empty message") // the core validates before
	}
	if got := value(t, m, "tripsense_sends_total", "result", "stored"); got < 1 {
		t.Errorf("stored: %v", got)
	}
	if got := value(t, m, "tripsense_sends_total", "result", "duplicate"); got != 1 {
		t.Errorf("duplicate: %v", got)
	}
	if got := value(t, m, "tripsense_append_seconds"); got < 1 {
		t.Errorf("append_seconds count %v", got)
	}
	fs := m.Store(failing{memory.New()})
	if _, err := fs.Head(ctx, "r"); err == nil {
		t.Fatal("no error")
	}
	if got := value(t, m, "tripsense_store_errors_total", "op", "head"); got != 1 {
		t.Errorf("store errors: %v", got)
	}
	if got := value(t, m, "tripsense_build_info", "version", "v1", "revision", "abc"); got != 1 {
		t.Errorf("build info %v", got)
	}
}

// queued is a ws.QueuedAppender over the memory store whose appends are
// over once queued; results counts the Result calls that reached it.
type queued struct {
	tripsense.Store
	results int
}

type over struct {
	q   *queued
	msg tripsense.Message
	dup bool
	err error
}

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (q *queued) AppendQueued(ctx context.Context, nm tripsense.NewMessage) tripsense.QueuedAppend {
	msg, dup, err := q.Append(ctx, nm)
	return &over{q: q, msg: msg, dup: dup, err: err}
}

func (o *over) Done() <-chan struct{} { return closedDone }

func (o *over) Result() (tripsense.Message, bool, error) {
	o.q.results++
	return o.msg, o.dup, o.err
}

// A queued append is counted once, when its result is first taken, and
// every Result returns the store's answer.
func TestQueuedStoreDecoratorCountsASendOnce(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "v1", Revision: "abc", GoVersion: "go1"})
	under := &queued{Store: memory.New()}
	qa, ok := m.Store(under).(ws.QueuedAppender)
	if !ok {
		t.Fatal("the decorator of a QueuedAppender is not one")
	}
	ctx := context.Background()
	nm := tripsense.NewMessage{Room: "r", UserID: "u", Body: "hi", Type: "text", ClientMsgID: "c1"}
	first := qa.AppendQueued(ctx, nm)
	for range 3 {
		msg, dup, err := first.Result()
		if err != nil || dup || msg.Index != 1 || msg.Body != "hi" {
			t.Fatalf("Result = %+v, %v, %v; want index 1, stored", msg, dup, err)
		}
	}
	again := qa.AppendQueued(ctx, nm)
	for range 2 {
		if msg, dup, err := again.Result(); err != nil || !dup || msg.Index != 1 {
			t.Fatalf("Result of the resend = %+v, %v, %v; want the duplicate of index 1", msg, dup, err)
		}
	}
	if under.results != 5 {
		t.Errorf("the store's Result was called %d times, want 5 (each call passes through)", under.results)
	}
	for _, series := range [][]string{
		{"tripsense_sends_total", "result", "stored"},
		{"tripsense_sends_total", "result", "duplicate"},
		{"tripsense_append_seconds"},
	} {
		if got := value(t, m, series[0], series[1:]...); got != 1 {
			t.Errorf("%v: %v, want 1", series, got)
		}
	}
}

// recorder is a Pusher and Broadcaster that knows room sizes.
type recorder struct{ pushed, broadcast int }

func (r *recorder) Push(context.Context, string, tripsense.Outbound) error { r.pushed++; return nil }
func (r *recorder) Close(context.Context, string, int, string) error       { return nil }
func (r *recorder) Broadcast(context.Context, string, string, tripsense.Outbound) []string {
	r.broadcast++
	return nil
}
func (r *recorder) RoomSize(string) int { return 5 }

func TestPusherDecorator(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	rec := &recorder{}
	p := m.Pusher(rec)
	b, ok := p.(ws.Broadcaster)
	if !ok {
		t.Fatal("the decorator of a Broadcaster is no Broadcaster")
	}
	ctx := context.Background()
	_ = p.Push(ctx, "c", tripsense.Outbound{Data: []byte(`{"type":"ack","index":1}`)})
	_ = p.Push(ctx, "c", tripsense.Outbound{Data: []byte(`{"type":"weird"}`)})
	b.Broadcast(ctx, "r", "sender", tripsense.Outbound{Data: []byte(`{"type":"message","chatroomId":"r"}`)})
	if rec.pushed != 2 || rec.broadcast != 1 {
		t.Fatalf("passed on: %+v", rec)
	}
	for typ, want := range map[string]float64{"ack": 1, "other": 1, "message": 4} {
		if got := value(t, m, "tripsense_frames_out_total", "type", typ); got != want {
			t.Errorf("frames out %s: %v, want %v", typ, got, want)
		}
	}
	if got := value(t, m, "tripsense_fanout_seconds"); got != 1 {
		t.Errorf("fanout count %v", got)
	}
	// A plain Pusher stays plain: ws must not take it for a Broadcaster.
	if _, ok := m.Pusher(struct{ tripsense.Pusher }{rec}).(ws.Broadcaster); ok {
		t.Fatal("a plain Pusher became a Broadcaster")
	}
}

type refuser struct{}

func (refuser) Allow(string, ws.Budget) (bool, time.Duration) { return false, time.Second }

func TestLimiterAndFramesIn(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	l := m.Limiter(refuser{})
	l.Allow("c", ws.BudgetSend)
	l.Allow("c", ws.BudgetControl)
	l.Allow("c", ws.BudgetControl)
	m.HTTPRateLimited()
	for b, want := range map[string]float64{"send": 1, "control": 2, "http": 1} {
		if got := value(t, m, "tripsense_rate_limited_total", "budget", b); got != want {
			t.Errorf("%s: %v want %v", b, got, want)
		}
	}
	m.FrameIn("sendMessage")
	m.FrameIn("💥 anything a client writes")
	if value(t, m, "tripsense_frames_in_total", "action", "sendMessage") != 1 || value(t, m, "tripsense_frames_in_total", "action", "other") != 1 {
		t.Error("frames in")
	}
	fams, _ := m.Registry.Gather()
	n := 0
	for _, f := range fams {
		if f.GetName() == "tripsense_frames_in_total" {
			n = len(f.GetMetric())
		}
	}
	if n != 9 { // the eight actions and other
		t.Errorf("frames_in_total has %d series: an unknown action made a new one?", n)
	}
}

type syncStub struct{ metrics.SyncService }

func (syncStub) WriteSync(_ context.Context, w io.Writer, _, _ string, _ map[string]int64, _ int) error {
	_, err := w.Write(bytes.Repeat([]byte("x"), 3000))
	return err
}

func TestCatchupDecorator(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	s := m.Catchup(syncStub{})
	var buf bytes.Buffer
	if err := s.WriteSync(context.Background(), &buf, "u", "", nil, 0); err != nil || buf.Len() != 3000 {
		t.Fatal(err)
	}
	if got := value(t, m, "tripsense_catchup_bytes", "kind", "sync"); got != 1 {
		t.Fatalf("catchup answers %v", got)
	}
}

// TestEMF: the records are valid EMF with the Prometheus names; counters
// are written as increases, and a flush without movement writes no
// counter.
func TestEMF(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "v1"})
	var out bytes.Buffer
	e := &metrics.EMF{Gatherer: m.Registry, Namespace: "Tripsense", Dimensions: map[string]string{"function": "lambda-ws"}, Out: &out,
		Now: func() time.Time { return time.UnixMilli(1700000000000) }}
	m.FrameIn("sendMessage")
	m.FrameIn("sendMessage")
	st := m.Store(memory.New())
	_, _, _ = st.Append(context.Background(), tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	recs := parseEMF(t, out.String())
	found := map[string]float64{}
	for _, r := range recs {
		aws := r["_aws"].(map[string]any)
		if aws["Timestamp"].(float64) != 1700000000000 {
			t.Fatalf("timestamp %v", aws["Timestamp"])
		}
		cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if cw["Namespace"] != "Tripsense" {
			t.Fatalf("namespace %v", cw["Namespace"])
		}
		dims := cw["Dimensions"].([]any)[0].([]any)
		for _, d := range dims {
			if _, ok := r[d.(string)]; !ok {
				t.Fatalf("dimension %v has no value in %v", d, r)
			}
		}
		if r["function"] != "lambda-ws" {
			t.Fatalf("function dimension: %v", r)
		}
		for _, mm := range cw["Metrics"].([]any) {
			name := mm.(map[string]any)["Name"].(string)
			v, ok := r[name].(float64)
			if !ok {
				t.Fatalf("metric %s has no value in %v", name, r)
			}
			key := name
			if a, ok := r["action"]; ok {
				key += "/" + a.(string)
			}
			if res, ok := r["result"]; ok {
				key += "/" + res.(string)
			}
			found[key] = v
		}
	}
	for k, want := range map[string]float64{"tripsense_frames_in_total/sendMessage": 2, "tripsense_sends_total/stored": 1, "tripsense_append_seconds_count": 1} {
		if found[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, found[k], want, found)
		}
	}
	if _, ok := found["tripsense_frames_in_total/ping"]; ok {
		t.Error("a counter that did not move was written")
	}
	// Second flush: only what moved since.
	out.Reset()
	m.FrameIn("sendMessage")
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, `"tripsense_frames_in_total":1`) || strings.Contains(s, "tripsense_sends_total") {
		t.Fatalf("second flush: %s", s)
	}
}

func parseEMF(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatal("no records")
	}
	return out
}

// TestGrafanaDashboardNamesRealMetrics: every metric the dashboard queries
// is one this package (or cmd/tripsense's gauges) exports.
func TestGrafanaDashboardNamesRealMetrics(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Build{})
	// The gauges cmd/tripsense registers.
	for _, n := range []string{"ws_queued_frames", "ws_queue_max_frames", "slow_consumer_closes_total", "connections_refused_total", "store_file_bytes",
		"store_commits_total", "store_commit_writes_total", "store_page_writes_total", "store_checkpoints_total", "store_queued_writes", "store_queued_bytes"} {
		m.Gauge(n, "x", func() float64 { return 0 })
	}
	m.GaugeWith("connections", "x", map[string]string{"state": "websocket"}, func() float64 { return 0 })
	// Vectors export a family only once a series exists.
	m.ObserveHTTP("/ws", 401, time.Millisecond)
	m.ObserveCatchup("sync", 1, time.Millisecond)
	m.WebhookBacklog(func() (int, int, time.Duration, bool) { return 0, 0, 0, true })
	_, _ = m.Store(failing{memory.New()}).Head(context.Background(), "r")
	fams, _ := m.Registry.Gather()
	known := map[string]bool{}
	for _, f := range fams {
		known[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			known[f.GetName()+"_bucket"] = true
		}
	}
	names := regexp.MustCompile(`tripsense_[a-z_]+`)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, name := range names.FindAllString(tg.Expr, -1) {
				n++
				if !known[name] {
					t.Errorf("the dashboard queries %s, which is not exported", name)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d metric names in the dashboard", n)
	}
}

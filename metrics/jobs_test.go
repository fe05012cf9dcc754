package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/webhook"
)

// TestRouteNamesEveryAPIRoute: every route of api/api.go has its own
// label value; unknown paths are "other".
func TestRouteNamesEveryAPIRoute(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/ws": "/ws", "/healthz": "/healthz", "/readyz": "/readyz", "/metrics": "/metrics",
		"/v1/sync": "/v1/sync", "/v1/rooms": "/v1/rooms", "/v1/admin/backup": "/v1/admin/backup",
		"/v1/webhooks": "/v1/webhooks", "/v1/webhooks/replay": "/v1/webhooks/replay",
		"/v1/users/u1":                  "/v1/users/{userId}",
		"/v1/rooms/r1":                  "/v1/rooms/{room}",
		"/v1/rooms/r1/messages":         "/v1/rooms/{room}/messages",
		"/v1/rooms/r1/cursor":           "/v1/rooms/{room}/cursor",
		"/v1/rooms/r1/receipts":         "/v1/rooms/{room}/receipts",
		"/v1/rooms/r1/members":          "/v1/rooms/{room}/members",
		"/v1/rooms/r1/members/u2":       "/v1/rooms/{room}/members/{userId}",
		"/v1/rooms/":                    "other",
		"/v1/rooms/r1/nope":             "other",
		"/v1/users/u1/x":                "other",
		"/wp-login.php":                 "other",
		"/v1/rooms/r1/members/u2/extra": "other",
	} {
		if got := metrics.Route(httptest.NewRequest("GET", path, nil)); got != want {
			t.Errorf("Route(%s) = %q, want %q", path, got, want)
		}
	}
}

func TestHTTPMiddleware(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	h := m.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/rooms":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/v1/sync":
			_, _ = w.Write([]byte("{}")) // implicit 200
		}
	}))
	for _, p := range []string{"/v1/rooms", "/v1/sync", "/v1/sync", "/healthz"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "/v1/rooms", "code", "429"}, 1},
		{[]string{"route", "/v1/sync", "code", "200"}, 2},
		{[]string{"route", "/healthz", "code", "200"}, 1},
	} {
		if got := value(t, m, "tripsense_http_requests_total", c.labels...); got != c.want {
			t.Errorf("%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := value(t, m, "tripsense_rate_limited_total", "budget", "http"); got != 1 {
		t.Errorf("http refusals %v", got)
	}
}

type deliverer func(tripsense.FanoutJob) error

func (d deliverer) DeliverFanout(_ context.Context, j tripsense.FanoutJob) error { return d(j) }

func TestFanoutDecorator(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	d := m.Fanout(deliverer(func(j tripsense.FanoutJob) error {
		if j.Index == 2 {
			return errors.New("throttled")
		}
		return nil
	}))
	for i := int64(1); i <= 3; i++ {
		_ = d.DeliverFanout(context.Background(), tripsense.FanoutJob{Room: "r", Index: i})
	}
	if got := value(t, m, "tripsense_fanout_jobs_total", "result", "delivered"); got != 2 {
		t.Errorf("delivered %v", got)
	}
	if got := value(t, m, "tripsense_fanout_jobs_total", "result", "failed"); got != 1 {
		t.Errorf("failed %v", got)
	}
	if got := value(t, m, "tripsense_fanout_job_seconds"); got != 3 {
		t.Errorf("timed %v", got)
	}
}

func TestWebhookMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	var obs webhook.Observer = m
	obs.WebhookAttempt(webhook.Delivered, time.Millisecond)
	obs.WebhookAttempt(webhook.Failed, time.Second)
	obs.WebhookAttempt(webhook.Failed, time.Second)
	obs.WebhookAttempt("weird", time.Second)
	for r, want := range map[string]float64{"delivered": 1, "failed": 2, "expired": 0, "gone": 0, "other": 1} {
		if got := value(t, m, "tripsense_webhook_deliveries_total", "result", r); got != want {
			t.Errorf("%s: %v, want %v", r, got, want)
		}
	}
	if got := value(t, m, "tripsense_webhook_attempt_seconds"); got != 4 {
		t.Errorf("timed %v", got)
	}
	ok := true
	m.WebhookBacklog(func() (int, int, time.Duration, bool) { return 7, 2, 90 * time.Second, ok })
	if p, f, o := value(t, m, "tripsense_webhook_backlog", "state", "pending"), value(t, m, "tripsense_webhook_backlog", "state", "failed"),
		value(t, m, "tripsense_webhook_oldest_pending_seconds"); p != 7 || f != 2 || o != 90 {
		t.Errorf("backlog %v %v %v", p, f, o)
	}
	ok = false // the store did not answer: no gauge rather than zeros
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "tripsense_webhook_backlog" {
			t.Errorf("backlog reported without a reading")
		}
	}
}

type scriptedPusher struct{ errs map[string]error }

func (p scriptedPusher) Push(_ context.Context, id string, _ tripsense.Outbound) error {
	return p.errs[id]
}
func (scriptedPusher) Close(context.Context, string, int, string) error { return nil }

func TestPushResults(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	p := m.Pusher(scriptedPusher{errs: map[string]error{"gone": tripsense.ErrGone, "bad": errors.New("throttled")}})
	for _, id := range []string{"ok", "ok", "gone", "bad"} {
		_ = p.Push(context.Background(), id, tripsense.Outbound{Data: []byte(`{"type":"message"}`)})
	}
	for r, want := range map[string]float64{"ok": 2, "gone": 1, "error": 1} {
		if got := value(t, m, "tripsense_pushes_total", "result", r); got != want {
			t.Errorf("%s: %v, want %v", r, got, want)
		}
	}
	if got := value(t, m, "tripsense_frames_out_total", "type", "message"); got != 2 {
		t.Errorf("frames out %v", got)
	}
}

// TestEveryProtocolActionAndFrameTypeHasItsLabel: every client action and
// every server frame type of the WebSocket contract
// (docs/protocol.schema.json, which test/contract_test.go checks against
// the server) is counted under its own label value, not as "other".
func TestEveryProtocolActionAndFrameTypeHasItsLabel(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/protocol.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties struct {
				Action, Type struct{ Const string }
			}
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var actions, types []string
	for name, d := range schema.Defs {
		if a := d.Properties.Action.Const; a != "" {
			actions = append(actions, a)
		}
		if ty := d.Properties.Type.Const; ty != "" && strings.HasSuffix(name, "Frame") {
			types = append(types, ty)
		}
	}
	if len(actions) < 8 || len(types) < 16 {
		t.Fatalf("read %d actions and %d frame types from the schema", len(actions), len(types))
	}
	m := metrics.New(metrics.Build{})
	p := m.Pusher(scriptedPusher{})
	for _, a := range actions {
		m.FrameIn(a)
	}
	for _, ty := range types {
		_ = p.Push(context.Background(), "c", tripsense.Outbound{Data: []byte(`{"type":"` + ty + `"}`)})
	}
	m.FrameIn("launchMissiles")
	for _, a := range actions {
		if got := value(t, m, "tripsense_frames_in_total", "action", a); got != 1 {
			t.Errorf("frames in %s: %v, want 1", a, got)
		}
	}
	for _, ty := range types {
		if got := value(t, m, "tripsense_frames_out_total", "type", ty); got != 1 {
			t.Errorf("frames out %s: %v, want 1", ty, got)
		}
	}
	if got := value(t, m, "tripsense_frames_in_total", "action", "other"); got != 1 {
		t.Errorf("unknown action counted %v times as other, want 1", got)
	}
	if got := value(t, m, "tripsense_frames_out_total", "type", "other"); got != 0 {
		t.Errorf("frames out other %v", got)
	}
}

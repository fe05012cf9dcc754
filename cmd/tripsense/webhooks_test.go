package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/webhook/webhooktest"
)

// TestWebhooksCommandOffline: with the server stopped, tripsense webhooks
// lists the outbox (pending and failed, with the last error) and replay
// makes the failed event pending again.
func TestWebhooksCommandOffline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(storePath(dir), bolt.Options{Outbox: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "b"} {
		if _, _, err := st.Append(ctx, tripsense.NewMessage{Room: "r", UserID: "u", Body: body, Type: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := st.OutboxList(ctx, 10)
	es[1].Failed, es[1].Attempts, es[1].LastError = true, 40, "the receiver answered 410 Gone"
	if err := st.OutboxUpdate(ctx, es[1]); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"webhooks", "--data", dir}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("list: %d %s", code, errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "evt_r_1\tpending") || !strings.Contains(s, "evt_r_2\tfailed\tattempts=40") ||
		!strings.Contains(s, "410 Gone") || !strings.Contains(s, "pending 1, failed 1") {
		t.Fatalf("list:\n%s", s)
	}
	out.Reset()
	if code := run(ctx, []string{"webhooks", "replay", "--data", dir}, getenv, &out, &errOut); code != 0 || strings.TrimSpace(out.String()) != "replayed 1" {
		t.Fatalf("replay: %d %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run(ctx, []string{"webhooks", "--data", dir}, getenv, &out, &errOut); code != 0 || !strings.Contains(out.String(), "pending 2, failed 0") {
		t.Fatalf("after replay: %d %s", code, out.String())
	}
	if code := run(ctx, []string{"webhooks", "resend", "--data", dir}, getenv, &out, &errOut); code != 2 {
		t.Fatalf("unknown verb: exit %d", code)
	}
}

func TestWebhookConfig(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, tc := range []struct {
		args    []string
		secret  string
		wantErr string
	}{
		{[]string{"--webhook-url", "http://127.0.0.1:9000/h"}, secret, ""},
		{nil, "", ""},
		{[]string{"--webhook-url", "http://127.0.0.1:9000/h"}, "", "whsec_"},
		{[]string{"--webhook-url", "http://127.0.0.1:9000/h"}, "whsec_QUJD", "24 to 64"},
		{[]string{"--webhook-url", "ftp://x"}, secret, "http or https"},
		{nil, secret, "--webhook-url"},
	} {
		getenv := func(k string) string {
			if k == "TRIPSENSE_WEBHOOK_SECRET" {
				return tc.secret
			}
			return ""
		}
		_, err := parseServeConfig(tc.args, getenv, &bytes.Buffer{})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v %q: err %v, want one naming %s", tc.args, tc.secret, err, tc.wantErr)
		}
		if err != nil && tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// TestWebhookMetrics: with the receiver failing, a send's event is counted
// as a failed attempt and waits in the backlog with its age; once the
// receiver answers, the retry is counted as delivered and the backlog is
// empty.
func TestWebhookMetrics(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	rcv.Status.Store(http.StatusServiceUnavailable)
	logs := newSyncBuffer()
	m := startMainWith(t, map[string]string{"TRIPSENSE_WEBHOOK_SECRET": webhooktest.Secret}, logs,
		"--log-level", "debug", "--metrics-addr", "127.0.0.1:0", "--webhook-url", rcv.URL+"/hooks")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := scrape(t, m.MetricsAddr())
	if v, ok := before[`tripsense_webhook_backlog{state="pending"}`]; !ok || v != 0 {
		t.Fatalf("backlog before any send: %v %v", v, ok)
	}
	c, _, err := websocket.Dial(ctx, "ws://"+m.Addr()+"/ws?userId=uuid1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"hook me","messageType":"text"}`)); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "webhook attempt failed", 20*time.Second)
	got := scrape(t, m.MetricsAddr())
	for series, want := range map[string]float64{
		`tripsense_webhook_deliveries_total{result="failed"}`:    1,
		`tripsense_webhook_deliveries_total{result="delivered"}`: 0,
		`tripsense_webhook_attempt_seconds_count`:                1,
		`tripsense_webhook_backlog{state="pending"}`:             1,
		`tripsense_webhook_backlog{state="failed"}`:              0,
	} {
		if got[series] != want {
			t.Errorf("after the failed attempt %s = %v, want %v", series, got[series], want)
		}
	}
	if age := got["tripsense_webhook_oldest_pending_seconds"]; age <= 0 || age > 20 {
		t.Errorf("oldest pending %vs", age)
	}
	rcv.Status.Store(0) // 204 from now on
	logs.waitFor(t, "webhook delivered", 20*time.Second)
	got = scrape(t, m.MetricsAddr())
	for series, want := range map[string]float64{
		`tripsense_webhook_deliveries_total{result="delivered"}`: 1,
		`tripsense_webhook_attempt_seconds_count`:                2,
		`tripsense_webhook_backlog{state="pending"}`:             0,
		`tripsense_webhook_oldest_pending_seconds`:               0,
	} {
		if got[series] != want {
			t.Errorf("after the delivery %s = %v, want %v", series, got[series], want)
		}
	}
}

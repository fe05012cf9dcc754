package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
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

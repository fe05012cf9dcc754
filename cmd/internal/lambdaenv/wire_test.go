package lambdaenv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
	"github.com/tripsense/tripsense/ws"
)

func TestNewBackend(t *testing.T) {
	t.Parallel()
	c, err := lambdaenv.FromEnv(lambdaenvtest.BaseTables(t, map[string]string{"TRIPSENSE_WS_ENDPOINT": "https://ws.example.com/prod", "TRIPSENSE_PUSH_TIMEOUT": "2s"}), "X-User-Id")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lambdaenv.NewBackend(context.Background(), c, lambdaenvtest.StaticCreds)
	if err != nil {
		t.Fatal(err)
	}
	if b.AWS.Region != "eu-west-1" || b.Store == nil || b.Presence == nil || b.Catchup == nil || b.Auth == nil {
		t.Fatalf("backend %+v", b)
	}
	p := b.Pusher(nil)
	if p.Endpoint != "https://ws.example.com/prod" || p.Timeout != 2*time.Second || p.Presence != b.Presence || p.Clients.New("https://x/y") == nil {
		t.Fatalf("pusher %+v", p)
	}
	if s := b.Service(p, nil); s.Pusher != p || s.Policy != ws.Replace || s.Catchup != b.Catchup {
		t.Fatalf("service %+v", s)
	}
	bad := c
	bad.Auth = "cognito"
	if _, err := lambdaenv.NewBackend(context.Background(), bad, lambdaenvtest.StaticCreds); err == nil {
		t.Fatal("unknown identity mode accepted")
	}
	bad = c
	bad.Tables.Messages = ""
	if _, err := lambdaenv.NewBackend(context.Background(), bad, lambdaenvtest.StaticCreds); err == nil {
		t.Fatal("missing table accepted")
	}
}

// function is a Function whose handler is the Backend itself.
var function = lambdaenv.Function[lambdaenv.Config, *lambdaenv.Backend]{
	Name: "lambda-test",
	Config: func(getenv func(string) string) (lambdaenv.Config, error) {
		return lambdaenv.FromEnv(getenv, "X-User-Id")
	},
	Handler: func(ctx context.Context, c lambdaenv.Config, _ *slog.Logger, _ *lambdaenv.Metrics, opts ...lambdaenv.LoadOption) (*lambdaenv.Backend, error) {
		return lambdaenv.NewBackend(ctx, c, opts...)
	},
	Ready: func(c lambdaenv.Config) []any { return []any{"region", c.Region} },
}

func TestFunctionInit(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	b, err := function.Init(context.Background(), lambdaenvtest.BaseTables(t, nil), &logs, lambdaenvtest.StaticCreds)
	if err != nil || b == nil {
		t.Fatalf("Init: %v, %v", b, err)
	}
	var ready map[string]any
	if err := json.Unmarshal(logs.Bytes(), &ready); err != nil {
		t.Fatalf("%v: %s", err, logs.String())
	}
	if ready["msg"] != "ready" || ready["fn"] != "lambda-test" || ready["auth"] != "token" || ready["region"] != "eu-west-1" ||
		ready["tables_messages"] != "tripsense-dev-messages" || ready["init_ms"] == nil {
		t.Fatalf("ready record %v", ready)
	}

	logs.Reset()
	if _, err := function.Init(context.Background(), lambdaenvtest.Getenv(map[string]string{"AWS_REGION": ""}), &logs); err == nil {
		t.Fatal("invalid configuration accepted")
	}
	if s := logs.String(); !strings.Contains(s, `"msg":"invalid configuration"`) || !strings.Contains(s, "AWS_REGION is empty") {
		t.Fatalf("logs %s", s)
	}

	logs.Reset()
	failing := function
	failing.Handler = func(context.Context, lambdaenv.Config, *slog.Logger, *lambdaenv.Metrics, ...lambdaenv.LoadOption) (*lambdaenv.Backend, error) {
		return nil, context.DeadlineExceeded
	}
	if _, err := failing.Init(context.Background(), lambdaenvtest.Getenv(map[string]string{"TRIPSENSE_LOG_LEVEL": "error"}), &logs); err == nil {
		t.Fatal("failed build accepted")
	}
	if s := logs.String(); !strings.Contains(s, `"msg":"init failed"`) {
		t.Fatalf("logs %s", s)
	}
}

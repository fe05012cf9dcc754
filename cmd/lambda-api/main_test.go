package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
)

// The variables are lambdaenv's, tested there; only the dev-mode message
// is this function's.
func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	if _, err := configFromEnv(lambdaenvtest.Getenv(map[string]string{"TRIPSENSE_AUTH": "dev"})); err == nil || !strings.Contains(err.Error(), "trusts any X-User-Id:") {
		t.Fatalf("dev without the insecure flag: %v", err)
	}
}

// request is an HTTP API payload format 2.0 event as API Gateway sends it
// (header names in lower case, stage $default).
func request(method, path, query, token, body string) events.APIGatewayV2HTTPRequest {
	h := map[string]string{"user-agent": "curl/8.5.0", "content-type": "application/json"}
	if token != "" {
		h["authorization"] = "Bearer " + token
	}
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + path, RawPath: path, RawQueryString: query, Headers: h, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			APIID: "abc123", DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "$default",
			RequestID: "gw-" + method + path, TimeEpoch: time.Now().UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.9"},
		},
	}
}

// TestHandlerWiring runs the function's real cold start against dynalite.
func TestHandlerWiring(t *testing.T) {
	t.Parallel()
	env := lambdaenvtest.Dynalite(t, "lapi")
	var logs bytes.Buffer
	start := time.Now()
	h, err := function.Init(context.Background(), lambdaenvtest.Getenv(env), &logs, lambdaenvtest.StaticCreds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("handler construction took %v", time.Since(start))
	if s := logs.String(); !strings.Contains(s, `"msg":"ready"`) || !strings.Contains(s, `"fn":"lambda-api"`) {
		t.Fatalf("logs %s", s)
	}
	user := lambdaenvtest.Token(t, "uuid1", false)
	admin := lambdaenvtest.Token(t, "ops", true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	call := func(req events.APIGatewayV2HTTPRequest, want int) map[string]any {
		t.Helper()
		resp, err := h.ProxyWithContext(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Fatalf("%s: %d %s, want %d", req.RouteKey, resp.StatusCode, resp.Body, want)
		}
		if got := resp.Headers["X-Request-Id"]; got != req.RequestContext.RequestID {
			t.Fatalf("%s: X-Request-Id %q, want API Gateway's %q", req.RouteKey, got, req.RequestContext.RequestID)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
			t.Fatalf("%s: body %q", req.RouteKey, resp.Body)
		}
		return v
	}
	call(request("GET", "/healthz", "", "", ""), 200)
	call(request("GET", "/v1/rooms", "", "", ""), 401)
	rooms := call(request("GET", "/v1/rooms", "", user, ""), 200)["rooms"].([]any)
	if len(rooms) != 2 {
		t.Fatalf("rooms %v", rooms)
	}
	call(request("POST", "/v1/rooms/uuidroom9/members", "", user, `{"userId":"uuid1"}`), 403)
	call(request("POST", "/v1/rooms/uuidroom9/members", "", admin, `{"userId":"uuid1"}`), 200)
	if rooms := call(request("GET", "/v1/rooms", "", user, ""), 200)["rooms"].([]any); len(rooms) != 3 {
		t.Fatalf("rooms after join %v", rooms)
	}
	call(request("GET", "/v1/sync", "", user, ""), 200)
	call(request("GET", "/v1/nothing", "", user, ""), 404)
}

func BenchmarkNewHandler(b *testing.B) { lambdaenvtest.BenchmarkHandler(b, function) }

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/test/gateway"
)

var staticCreds = config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""))

const secret = "0123456789abcdef0123456789abcdef-lambda-api"

func mustTables(t testing.TB, endpoint string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "lapi" + hex.EncodeToString(b[:]) + "-"
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tables := dynamo.TablesWithPrefix(prefix)
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		t.Fatal(err)
	}
	st := dynamo.New(db, dynamo.Config{Tables: tables})
	for _, m := range [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}} {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	return prefix
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

// TestHandlerWiring runs the function's real wiring against dynalite.
func TestHandlerWiring(t *testing.T) {
	t.Parallel()
	endpoint := gateway.Dynalite(t)
	prefix := mustTables(t, endpoint)
	cfg, err := configFromEnv(envFunc(map[string]string{
		"AWS_REGION": "us-east-1", "TRIPSENSE_TABLE_PREFIX": prefix, "TRIPSENSE_DYNAMODB_ENDPOINT": endpoint,
		"TRIPSENSE_TOKEN_SECRET": secret,
	}))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	start := time.Now()
	h, err := newHandler(context.Background(), cfg, newLogger(&logs, slog.LevelInfo), staticCreds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("handler construction took %v", time.Since(start))
	tk, _ := auth.NewToken(secret)
	user, _ := tk.Mint("uuid1", time.Hour, false)
	admin, _ := tk.Mint("ops", time.Hour, true)
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

func BenchmarkNewHandler(b *testing.B) {
	cfg, err := configFromEnv(envFunc(baseEnv()))
	if err != nil {
		b.Fatal(err)
	}
	log := newLogger(&bytes.Buffer{}, slog.LevelInfo)
	for b.Loop() {
		if _, err := newHandler(context.Background(), cfg, log, staticCreds); err != nil {
			b.Fatal(err)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
	"github.com/tripsense/tripsense/store/dynamo"
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
	logs := lambdaenvtest.NewLog()
	start := time.Now()
	h, err := function.Init(context.Background(), lambdaenvtest.Getenv(env), logs, lambdaenvtest.StaticCreds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("handler construction took %v", time.Since(start))
	if s := string(logs.Bytes()); !strings.Contains(s, `"msg":"ready"`) || !strings.Contains(s, `"fn":"lambda-api"`) {
		t.Fatalf("logs %s", s)
	}
	user := lambdaenvtest.Token(t, "uuid1", false)
	admin := lambdaenvtest.Token(t, "ops", true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	call := func(req events.APIGatewayV2HTTPRequest, want int) map[string]any {
		t.Helper()
		resp, err := h(ctx, req)
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
	// The store epoch (the messages table's identity) is in the answer and
	// its header, as on the single binary.
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["TRIPSENSE_DYNAMODB_ENDPOINT"]),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")})
	epoch, err := dynamo.New(db, dynamo.Config{Tables: dynamo.TablesWithPrefix(env["TRIPSENSE_TABLE_PREFIX"])}).Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := call(request("GET", "/v1/sync", "", user, ""), 200)["epoch"]; got != epoch {
		t.Fatalf("GET /v1/sync epoch %v, want the table's %s", got, epoch)
	}
	if resp, err := h(ctx, request("GET", "/v1/rooms", "", user, "")); err != nil || resp.Headers["Tripsense-Epoch"] != epoch {
		t.Fatalf("Tripsense-Epoch %q (%v), want %s", resp.Headers["Tripsense-Epoch"], err, epoch)
	}
	call(request("GET", "/v1/nothing", "", user, ""), 404)

	// Every request was flushed as EMF records: by route and status, the
	// catch-up answer by size and duration.
	recs := lambdaenvtest.EMF(t, logs.Bytes())
	fn := []string{"function", "lambda-api"}
	for _, c := range []struct {
		metric string
		dims   []string
		want   float64
	}{
		{"tripsense_http_requests_total", append(fn, "route", "/healthz", "code", "200"), 1},
		{"tripsense_http_requests_total", append(fn, "route", "/v1/rooms", "code", "401"), 1},
		{"tripsense_http_requests_total", append(fn, "route", "/v1/rooms", "code", "200"), 3},
		{"tripsense_http_requests_total", append(fn, "route", "/v1/rooms/{room}/members", "code", "403"), 1},
		{"tripsense_http_requests_total", append(fn, "route", "/v1/rooms/{room}/members", "code", "200"), 1},
		{"tripsense_http_requests_total", append(fn, "route", "/v1/sync", "code", "200"), 1},
		{"tripsense_http_requests_total", append(fn, "route", "other", "code", "404"), 1},
		{"tripsense_http_request_seconds_count", append(fn, "route", "/v1/rooms"), 4},
		{"tripsense_catchup_bytes_count", append(fn, "kind", "sync"), 1},
		{"tripsense_catchup_seconds_count", append(fn, "kind", "sync"), 1},
	} {
		if got := lambdaenvtest.Sum(recs, c.metric, c.dims...); got != c.want {
			t.Errorf("%s %v = %v in the EMF records, want %v", c.metric, c.dims, got, c.want)
		}
	}
	if got := lambdaenvtest.Sum(recs, "tripsense_catchup_bytes_sum", append(fn, "kind", "sync")...); got < 10 {
		t.Errorf("catch-up bytes %v", got)
	}
}

func BenchmarkNewHandler(b *testing.B) { lambdaenvtest.BenchmarkHandler(b, function) }

package main

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws/apigw"
)

// TestHandlerWiring runs the function's real cold start (configuration,
// SDK clients, wiring) behind the gateway harness, against dynalite, in
// token mode as deployed.
func TestHandlerWiring(t *testing.T) {
	t.Parallel()
	env := lambdaenvtest.Dynalite(t, "lws")

	// Every Lambda instance the gateway starts runs the real cold start.
	// A file, not a buffer: the handler may still log a $disconnect while
	// the test reads.
	logs := filepath.Join(t.TempDir(), "log")
	w, err := os.Create(logs)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var getenv func(string) string
	gw := gateway.New(nil, gateway.Options{Routes: apigw.Routes, Logf: t.Logf, NewHandler: func() gateway.Handler {
		h, err := function.Init(context.Background(), getenv, w, lambdaenvtest.StaticCreds)
		if err != nil {
			t.Error(err)
			return func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				return events.APIGatewayProxyResponse{}, err
			}
		}
		return h.Handle
	}})
	defer gw.Close()
	env["TRIPSENSE_WS_ENDPOINT"] = gw.Endpoint // the harness is plain http
	getenv = lambdaenvtest.Getenv(env)
	start := time.Now()
	if _, err := function.Init(context.Background(), getenv, io.Discard, lambdaenvtest.StaticCreds); err != nil {
		t.Fatal(err)
	}
	t.Logf("handler construction took %v", time.Since(start))

	tok := func(u string) string { return "token=" + url.QueryEscape(lambdaenvtest.Token(t, u, false)) }
	if _, status, err := gateway.DialStatus(gw, "userId=uuid1"); err == nil || status != 401 {
		t.Fatalf("dev identity in token mode: status %d, %v", status, err)
	}
	u1 := gateway.Dial(t, gw, tok("uuid1"))
	u2 := gateway.Dial(t, gw, tok("uuid2"))
	u1.Send(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"hi from lambda","messageType":"text message","clientMsgId":"w-1"}`)
	if ack := u1.NextOfType("ack"); ack["index"] != float64(1) {
		t.Fatalf("ack %v", ack)
	}
	if m := u2.NextOfType("message"); m["chatMessage"] != "hi from lambda" || m["index"] != float64(1) {
		t.Fatalf("message %v", m)
	}
	u1.ExpectNone()
	u2.Close()
	// The function's metrics, as the EMF records withMetrics writes after
	// each event, counted the send.
	var rec strings.Builder
	emf.Out = &rec
	if err := emf.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"tripsense_sends_total":1`, `"result":"stored"`, `"function":"lambda-ws"`, `"Namespace":"Tripsense"`, `"tripsense_append_seconds_count":1`} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("no %s in the EMF records:\n%s", want, rec.String())
		}
	}
	b, err := os.ReadFile(logs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msg":"ready"`, `"duplicate_connections":"replace"`, `"management_endpoint":"` + gw.Endpoint + `"`, `"msg":"connected"`, `"fn":"lambda-ws"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("no %s in the logs:\n%s", want, b)
		}
	}
}

func BenchmarkNewHandler(b *testing.B) { lambdaenvtest.BenchmarkHandler(b, function) }

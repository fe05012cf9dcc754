package main

import (
	"context"
	"io"
	"net/url"
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

	// Every Lambda instance the gateway starts runs the real cold start,
	// logging (and writing its EMF records) to logs.
	logs := lambdaenvtest.NewLog()
	var getenv func(string) string
	gw := gateway.New(nil, gateway.Options{Routes: apigw.Routes, Logf: t.Logf, NewHandler: func() gateway.Handler {
		h, err := function.Init(context.Background(), getenv, logs, lambdaenvtest.StaticCreds)
		if err != nil {
			t.Error(err)
			return func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				return events.APIGatewayProxyResponse{}, err
			}
		}
		return h
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
	// A sync ends with the store's epoch, as on the single binary.
	u2.Send(`{"action":"sync"}`)
	done := false
	for i := 0; i < 10 && !done; i++ { // messages, synced per room, then syncDone
		f := u2.Next()
		if done = f["type"] == "syncDone"; done {
			if e, _ := f["epoch"].(string); len(e) != 16 {
				t.Fatalf("syncDone %v, want the store epoch", f)
			}
		}
	}
	if !done {
		t.Fatal("no syncDone after 10 frames")
	}
	u2.Close()
	// The function's metrics, as the EMF records written after each event
	// (summed over the gateway's instances: each writes its own
	// increments), counted the send, its frames and its commit.
	fn := []string{"function", "lambda-ws"}
	recs := logs.WaitEMF(t, 10*time.Second, func(r []lambdaenvtest.EMFRecord) bool {
		return lambdaenvtest.Sum(r, "tripsense_sends_total", append(fn, "result", "stored")...) == 1 &&
			lambdaenvtest.Sum(r, "tripsense_frames_out_total", append(fn, "type", "message")...) >= 1
	})
	for _, c := range []struct {
		metric string
		dims   []string
		want   float64
	}{
		{"tripsense_append_seconds_count", fn, 1},
		{"tripsense_frames_in_total", append(fn, "action", "sendMessage"), 1},
		{"tripsense_frames_out_total", append(fn, "type", "ack"), 1},
	} {
		if got := lambdaenvtest.Sum(recs, c.metric, c.dims...); got != c.want {
			t.Errorf("%s %v = %v in the EMF records, want %v", c.metric, c.dims, got, c.want)
		}
	}
	if !lambdaenvtest.Has(recs, "tripsense_pushes_total", append(fn, "result", "ok")...) {
		t.Errorf("no pushes counted")
	}
	if ns := recs[0]["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Namespace"]; ns != "Tripsense" {
		t.Errorf("namespace %v", ns)
	}
	b := logs.Bytes()
	for _, want := range []string{`"msg":"ready"`, `"duplicate_connections":"replace"`, `"management_endpoint":"` + gw.Endpoint + `"`, `"msg":"connected"`, `"fn":"lambda-ws"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("no %s in the logs:\n%s", want, b)
		}
	}
}

func BenchmarkNewHandler(b *testing.B) { lambdaenvtest.BenchmarkHandler(b, function) }

package main

import (
	"context"
	"io"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	ep := map[string]string{"TRIPSENSE_WS_ENDPOINT": "https://abc.execute-api.eu-west-1.amazonaws.com/dev", "TRIPSENSE_TOKEN_SECRET": ""}
	for _, tc := range []struct {
		name, wantErr string
		set           map[string]string
	}{
		{"valid without a token secret", "", ep},
		{"no endpoint", "TRIPSENSE_WS_ENDPOINT", map[string]string{"TRIPSENSE_WS_ENDPOINT": ""}},
		{"parallelism", "TRIPSENSE_FANOUT_PARALLELISM", map[string]string{"TRIPSENSE_WS_ENDPOINT": ep["TRIPSENSE_WS_ENDPOINT"], "TRIPSENSE_FANOUT_PARALLELISM": "0"}},
		{"attempts", "TRIPSENSE_PUSH_ATTEMPTS", map[string]string{"TRIPSENSE_WS_ENDPOINT": ep["TRIPSENSE_WS_ENDPOINT"], "TRIPSENSE_PUSH_ATTEMPTS": "x"}},
	} {
		c, err := configFromEnv(lambdaenvtest.Getenv(tc.set))
		lambdaenvtest.Expect(t, tc.name, c, err, tc.wantErr, nil)
	}
}

// TestColdStartAndBadJobs runs the real cold start against dynalite and
// hands it a batch with an undecodable job and a job for a message that
// does not exist: both are reported as failed items, the batch is not a
// Lambda error. (Delivery itself is tested end to end in test/.)
func TestColdStartAndBadJobs(t *testing.T) {
	t.Parallel()
	env := lambdaenvtest.Dynalite(t, "lfo")
	env["TRIPSENSE_WS_ENDPOINT"] = "http://127.0.0.1:9/dev"
	h, err := function.Init(context.Background(), lambdaenvtest.Getenv(env), io.Discard, lambdaenvtest.StaticCreds)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"room":"uuidroom1"`},
		{MessageId: "m2", Body: `{"room":"uuidroom1","index":5,"conns":["c1"]}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 2 || resp.BatchItemFailures[0].ItemIdentifier != "m1" || resp.BatchItemFailures[1].ItemIdentifier != "m2" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
}

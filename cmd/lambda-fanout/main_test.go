package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"

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
// hands it a batch with an undecodable job, a job for a message that does
// not exist and a good job for a message in the store, pushed to a fake
// Management API: the first two are reported as failed items (the batch is
// not a Lambda error), and the EMF records written after the batch count
// the two decoded jobs by result, the push and its message frame.
// (Delivery itself is tested end to end in test/.)
func TestColdStartAndBadJobs(t *testing.T) {
	t.Parallel()
	env := lambdaenvtest.Dynalite(t, "lfo")
	var posts atomic.Int32
	mgmt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/dev/@connections/c9" {
			posts.Add(1)
			return // 200
		}
		http.Error(w, `{"message":"unexpected"}`, http.StatusBadRequest)
	}))
	defer mgmt.Close()
	env["TRIPSENSE_WS_ENDPOINT"] = mgmt.URL + "/dev"
	logs := lambdaenvtest.NewLog()
	h, err := function.Init(context.Background(), lambdaenvtest.Getenv(env), logs, lambdaenvtest.StaticCreds)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["TRIPSENSE_DYNAMODB_ENDPOINT"]),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")})
	st := dynamo.New(db, dynamo.Config{Tables: dynamo.TablesWithPrefix(env["TRIPSENSE_TABLE_PREFIX"])})
	if _, _, err := st.Append(context.Background(), tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "to many", Type: "text", CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"room":"uuidroom1"`},
		{MessageId: "m2", Body: `{"room":"uuidroom1","index":5,"conns":["c1"]}`},
		{MessageId: "m3", Body: `{"room":"uuidroom2","index":1,"conns":["c9"]}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 2 || resp.BatchItemFailures[0].ItemIdentifier != "m1" || resp.BatchItemFailures[1].ItemIdentifier != "m2" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	if posts.Load() != 1 {
		t.Fatalf("%d posts to the connection, want 1", posts.Load())
	}
	recs := lambdaenvtest.EMF(t, logs.Bytes())
	fn := []string{"function", "lambda-fanout"}
	for _, c := range []struct {
		metric string
		dims   []string
		want   float64
	}{
		{"tripsense_fanout_jobs_total", append(fn, "result", "failed"), 1},
		{"tripsense_fanout_jobs_total", append(fn, "result", "delivered"), 1},
		{"tripsense_fanout_job_seconds_count", fn, 2},
		{"tripsense_pushes_total", append(fn, "result", "ok"), 1},
		{"tripsense_frames_out_total", append(fn, "type", "message"), 1},
	} {
		if got := lambdaenvtest.Sum(recs, c.metric, c.dims...); got != c.want {
			t.Errorf("%s %v = %v in the EMF records, want %v", c.metric, c.dims, got, c.want)
		}
	}
}

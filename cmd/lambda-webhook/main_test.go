package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/webhook/webhooktest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, wantErr string
		set           map[string]string
	}{
		{"off without a URL", "", nil},
		{"URL and parameter", "", map[string]string{"TRIPSENSE_WEBHOOK_URL": "https://b.example/h", "TRIPSENSE_WEBHOOK_SECRET_PARAM": "/tripsense/dev/webhook-secret"}},
		{"URL without a secret", "TRIPSENSE_WEBHOOK_SECRET_PARAM", map[string]string{"TRIPSENSE_WEBHOOK_URL": "https://b.example/h"}},
		{"timeout", "TRIPSENSE_WEBHOOK_TIMEOUT", map[string]string{"TRIPSENSE_WEBHOOK_TIMEOUT": "soon"}},
		{"no tables", "TRIPSENSE_TABLE_PREFIX", map[string]string{"TRIPSENSE_TABLE_PREFIX": ""}},
	} {
		c, err := configFromEnv(lambdaenvtest.Getenv(tc.set))
		lambdaenvtest.Expect(t, tc.name, c, err, tc.wantErr, nil)
	}
}

// TestColdStartDeliversAStreamRecord runs the real cold start against
// dynalite, appends a message with the DynamoDB store, and hands the
// function the INSERT record the stream carries: the receiver gets a
// message.created webhook that verifies, uuid2 offline.
func TestColdStartDeliversAStreamRecord(t *testing.T) {
	t.Parallel()
	env := lambdaenvtest.Dynalite(t, "lwh")
	rcv := webhooktest.NewReceiver(t)
	env["TRIPSENSE_WEBHOOK_URL"] = rcv.URL + "/hooks"
	env["TRIPSENSE_WEBHOOK_SECRET"] = webhooktest.Secret
	logs := lambdaenvtest.NewLog()
	h, err := function.Init(context.Background(), lambdaenvtest.Getenv(env), logs, lambdaenvtest.StaticCreds)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["TRIPSENSE_DYNAMODB_ENDPOINT"]),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")})
	st := dynamo.New(db, dynamo.Config{Tables: dynamo.TablesWithPrefix(env["TRIPSENSE_TABLE_PREFIX"])})
	m, _, err := st.Append(context.Background(), tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "landed?", Type: "text", CreateTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(seq string, index int64, created time.Time) events.DynamoDBEventRecord {
		return events.DynamoDBEventRecord{EventName: "INSERT", Change: events.DynamoDBStreamRecord{SequenceNumber: seq,
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: created}, Keys: map[string]events.DynamoDBAttributeValue{
				"room": events.NewStringAttribute(m.Room), "index": events.NewNumberAttribute(fmt.Sprint(index))}}}
	}
	resp, err := h(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{insert("1", 1, time.Now())}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%+v %v", resp, err)
	}
	g := rcv.Take()
	if len(g) != 1 || g[0].Err != nil || g[0].Header.Get("webhook-id") != "evt_uuidroom2_1" {
		t.Fatalf("deliveries %+v", g)
	}
	var ev struct {
		Type string
		Data struct{ OfflineMembers []string }
	}
	if err := json.Unmarshal(g[0].Body, &ev); err != nil || ev.Type != "message.created" || strings.Join(ev.Data.OfflineMembers, ",") != "uuid2" {
		t.Fatalf("%s %v", g[0].Body, err)
	}
	fn := []string{"function", "lambda-webhook"}
	recs := lambdaenvtest.EMF(t, logs.Bytes())
	if got := lambdaenvtest.Sum(recs, "tripsense_webhook_deliveries_total", append(fn, "result", "delivered")...); got != 1 {
		t.Errorf("delivered %v, want 1", got)
	}
	if got := lambdaenvtest.Sum(recs, "tripsense_webhook_attempt_seconds_count", fn...); got != 1 {
		t.Errorf("attempts timed %v, want 1", got)
	}
	if !lambdaenvtest.Has(recs, "tripsense_webhook_backlog", append(fn, "state", "pending")...) || lambdaenvtest.Sum(recs, "tripsense_webhook_backlog", fn...) != 0 {
		t.Errorf("backlog after a delivered batch: want a pending gauge of 0")
	}

	// The receiver fails: the batch stops at its first record, whose age
	// (a minute, by the stream's creation time) and the two records left
	// are the backlog the flush reports.
	if _, _, err := st.Append(context.Background(), tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "again", Type: "text", CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rcv.Status.Store(503)
	before := len(logs.Bytes())
	resp, err = h(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		insert("2", 2, time.Now().Add(-time.Minute)), insert("3", 3, time.Now())}})
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "2" {
		t.Fatalf("%+v %v", resp, err)
	}
	recs = lambdaenvtest.EMF(t, logs.Bytes()[before:])
	if got := lambdaenvtest.Sum(recs, "tripsense_webhook_deliveries_total", append(fn, "result", "failed")...); got != 1 {
		t.Errorf("failed %v, want 1", got)
	}
	if got := lambdaenvtest.Sum(recs, "tripsense_webhook_backlog", append(fn, "state", "pending")...); got != 2 {
		t.Errorf("backlog %v, want 2", got)
	}
	if got := lambdaenvtest.Sum(recs, "tripsense_webhook_oldest_pending_seconds", fn...); got < 59 || got > 120 {
		t.Errorf("oldest pending %vs, want about 60", got)
	}
}

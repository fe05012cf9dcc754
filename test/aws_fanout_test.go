package test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	sqsfanout "github.com/tripsense/tripsense/fanout/sqs"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
)

// TestAWSLargeRoomFanoutThroughTheQueue: in a room above the threshold the
// WebSocket function acks a send once the fan-out jobs are in SQS (the
// real SDK client and the SQS adapter, against the stand-in queue),
// without posting to the room; the fan-out function (ws/apigw's
// FanoutHandler over its own DynamoDB client, whose calls are checked
// against its IAM policy) then pushes every member once. A retried send
// queues its fan-out again, so a fan-out that never ran is not lost.
func TestAWSLargeRoomFanoutThroughTheQueue(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	ctx := context.Background()
	const members = 5
	for i := 1; i <= members; i++ {
		if err := s.store.AddMember(ctx, "uuidroom2", fmt.Sprint("fan", i)); err != nil {
			t.Fatal(err)
		}
	}
	queue := gateway.NewSQS(t)
	sqsClient := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(queue.Endpoint), Credentials: awsCreds})
	s.wsOptions = append(s.wsOptions, func(svc *ws.Service) {
		svc.Fanout = &sqsfanout.Queue{Client: sqsClient, URL: queue.QueueURL}
		svc.FanoutThreshold, svc.FanoutBatch = 3, 2
	})

	// The fan-out function, wired as cmd/lambda-fanout wires it.
	fanCalls := &callLog{prefix: s.prefix, calls: map[string]int{}}
	t.Cleanup(func() { checkCallsAllowed(t, "fanout", fanCalls.snapshot()) })
	dcfg := dynamo.Config{Tables: dynamo.TablesWithPrefix(s.prefix)}
	fanDB := newDynamoClient(s.endpoint, fanCalls, nil)
	fanPresence := dynamo.NewPresence(fanDB, dcfg)
	log := slog.New(slog.NewJSONHandler(s.logs, nil))
	consumer := &apigw.FanoutHandler{Log: log, Service: &ws.Service{
		Store: dynamo.New(fanDB, dcfg), Presence: fanPresence, FanoutParallelism: 4, Log: log,
		Pusher: &apigw.Pusher{Endpoint: s.gw.Endpoint, Presence: fanPresence, Log: log, Clients: &apigw.Clients{New: func(ep string) apigw.ManagementAPI {
			return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{BaseEndpoint: aws.String(ep), Region: "us-east-1", Credentials: awsCreds, HTTPClient: s.gw.HTTPClient})
		}}},
	}}

	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	var fans []*gateway.Client
	for i := 1; i <= members; i++ {
		fans = append(fans, s.dial(fmt.Sprint("fan", i)))
	}
	postsBefore := postsOf(s)
	i := mustSend(t, u1, "uuidroom2", "to the crowd")
	if err := s.gw.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := postsOf(s) - postsBefore; n != 1 {
		t.Fatalf("%d posts during the send, want only the ack", n)
	}
	if queue.Sent() != 3 { // 6 receivers, 2 a job
		t.Fatalf("%d jobs queued, want 3", queue.Sent())
	}
	if calls := queue.Drain(ctx, 10, consumer.Handle); calls != 1 || len(queue.Dead()) != 0 {
		t.Fatalf("%d consumer invocations, dead %v", calls, queue.Dead())
	}
	for _, c := range append([]*gateway.Client{u2}, fans...) {
		mustMessage(t, c, "uuidroom2", "to the crowd", i)
	}
	u1.ExpectNone()

	// The retry of that send (say its ack was lost) queues the fan-out
	// again: members get it twice, which they dedupe by index.
	u1.Send(sendFrame("uuidroom2", "to the crowd", clientMsgID("to the crowd")))
	if ack := u1.NextOfType("ack"); ack["duplicate"] != true {
		t.Fatalf("ack %v", ack)
	}
	if queue.Sent() != 6 {
		t.Fatalf("%d jobs after the retry, want 6", queue.Sent())
	}
	queue.Drain(ctx, 10, consumer.Handle)
	mustMessage(t, u2, "uuidroom2", "to the crowd", i)

	// A member gone without a $disconnect is removed by the consumer, and
	// the others still get the next message.
	if !s.gw.Vanish(fans[0].ID) {
		t.Fatal("unknown connection")
	}
	j := mustSend(t, u1, "uuidroom2", "after a loss")
	queue.Drain(ctx, 10, consumer.Handle)
	for _, c := range append([]*gateway.Client{u2}, fans[1:]...) {
		for {
			m := c.NextOfType("message")
			if m["index"] == float64(j) {
				break
			}
		}
	}
	if _, err := s.presence.Get(ctx, fans[0].ID); err == nil {
		t.Fatal("the gone member is still registered")
	}
	if len(queue.Dead()) != 0 {
		t.Fatalf("dead letters %v", queue.Dead())
	}
}

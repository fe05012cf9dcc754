package test

import (
	"slices"
	"strings"
	"testing"
)

// TestAWSTemplateFanout checks the queued fan-out of large rooms in the
// packaged template: the queue with its dead-letter queue and redrive
// policy, the fanout function's event source mapping with partial batch
// failure reporting, each function's SQS permissions (ws may only send,
// fanout may only receive and delete, both on that queue), and that the ws
// function is told the queue and the fanout function the management
// endpoint.
func TestAWSTemplateFanout(t *testing.T) {
	t.Parallel()
	tmpl := awsTemplate(t)
	queues := resourcesOfType(tmpl, "AWS::SQS::Queue")
	q, dlq := queues["FanoutQueue"], queues["FanoutDeadLetterQueue"]
	if q == nil || dlq == nil || queues["WebhookDeadLetterQueue"] == nil || len(queues) != 3 {
		t.Fatalf("queues %v, want FanoutQueue, FanoutDeadLetterQueue and WebhookDeadLetterQueue", queues)
	}
	rp, _ := q.props()["RedrivePolicy"].(map[string]any)
	if getAtt(rp["deadLetterTargetArn"], "Arn") != "FanoutDeadLetterQueue" {
		t.Errorf("redrive policy %v does not target the DLQ", rp)
	}
	if n, _ := rp["maxReceiveCount"].(float64); n < 1 || n > 10 {
		t.Errorf("maxReceiveCount %v", rp["maxReceiveCount"])
	}
	fns := resourcesOfType(tmpl, "AWS::Lambda::Function")
	timeout, _ := fns["FanoutLambdaFunction"].props()["Timeout"].(float64)
	if vt, _ := q.props()["VisibilityTimeout"].(float64); timeout <= 0 || vt < 6*timeout {
		t.Errorf("visibility timeout %v for a function timeout of %v: want at least 6 times", q.props()["VisibilityTimeout"], timeout)
	}
	if dr, qr := dlq.props()["MessageRetentionPeriod"].(float64), q.props()["MessageRetentionPeriod"].(float64); dr <= qr {
		t.Errorf("DLQ keeps messages %v s, not longer than the queue's %v s", dr, qr)
	}

	maps := resourcesOfType(tmpl, "AWS::Lambda::EventSourceMapping")
	if len(maps) != 2 {
		t.Fatalf("%d event source mappings, want 2 (the fan-out queue, the messages stream: TestAWSTemplateWebhooks)", len(maps))
	}
	for id, m := range maps {
		p := m.props()
		if getAtt(p["EventSourceArn"], "StreamArn") == "MessagesTable" {
			continue
		}
		if getAtt(p["EventSourceArn"], "Arn") != "FanoutQueue" || !strings.Contains(string(jsonBytes(p["FunctionName"])), "FanoutLambdaFunction") {
			t.Errorf("%s: %v", id, p)
		}
		if b, _ := p["BatchSize"].(float64); b < 1 || b > 10 {
			t.Errorf("%s: batch size %v", id, p["BatchSize"])
		}
		if !slices.Contains(asList(p["FunctionResponseTypes"]), any("ReportBatchItemFailures")) {
			t.Errorf("%s: FunctionResponseTypes %v, want ReportBatchItemFailures", id, p["FunctionResponseTypes"])
		}
	}

	sqsActions := func(fn string) []string {
		_, stmts := functionRole(t, tmpl, fn)
		var out []string
		for _, s := range stmts {
			for _, a := range asList(s["Action"]) {
				if strings.HasPrefix(a.(string), "sqs:") {
					out = append(out, a.(string))
				}
			}
		}
		slices.Sort(out)
		return out
	}
	equalJSON(t, "ws SQS actions", sqsActions("ws"), []string{"sqs:SendMessage"})
	equalJSON(t, "fanout SQS actions", sqsActions("fanout"), []string{"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"})
	if a := sqsActions("api"); len(a) != 0 {
		t.Errorf("api SQS actions %v", a)
	}

	env := func(id string) map[string]any {
		return fns[id].props()["Environment"].(map[string]any)["Variables"].(map[string]any)
	}
	if v := string(jsonBytes(env("WsLambdaFunction")["TRIPSENSE_FANOUT_QUEUE_URL"])); !strings.Contains(v, `{"Ref":"FanoutQueue"}`) {
		t.Errorf("ws TRIPSENSE_FANOUT_QUEUE_URL %s, want the queue's URL", v)
	}
	if v := string(jsonBytes(env("FanoutLambdaFunction")["TRIPSENSE_WS_ENDPOINT"])); !strings.Contains(v, `{"Ref":"WebsocketsApi"}`) {
		t.Errorf("fanout TRIPSENSE_WS_ENDPOINT %s, want the WebSocket API's endpoint", v)
	}
}

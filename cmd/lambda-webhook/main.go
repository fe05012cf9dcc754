// Command lambda-webhook is the Lambda function that consumes the DynamoDB
// stream of the messages table (event source mapping with
// ReportBatchItemFailures, an on-failure destination: the webhook
// dead-letter queue) and sends each new room-log entry to the app's backend
// as a signed webhook, with the single binary's delivery step
// (webhook.Deliver, through webhook/stream). It reads its configuration once
// at cold start (see Config), the signing secret from an SSM SecureString.
// It holds no business rule. Build it as `bootstrap` for provided.al2023
// with scripts/lambda.sh.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
)

// handler is what the Lambda runtime invokes: webhook/stream's handler
// with the function's metrics flushed after every batch
// (lambdaenv.Flushed).
type handler = func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

var function = lambdaenv.Function[Config, handler]{
	Name:    "lambda-webhook",
	Config:  configFromEnv,
	Handler: newHandler,
	Start:   func(h handler) { lambda.Start(h) },
	Ready: func(c Config) []any {
		return []any{"webhook_url", c.URL, "webhooks_on", c.URL != ""}
	},
}

func main() { function.Main() }

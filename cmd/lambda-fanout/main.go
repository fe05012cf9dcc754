// Command lambda-fanout is the Lambda function that consumes the fan-out
// queue (SQS, event source mapping with ReportBatchItemFailures): each
// message is a fan-out job of a large room (a message and a batch of its
// room's connections), which it pushes through the API Gateway Management
// API like lambda-ws does. It reads its configuration from the environment
// once (see Config), builds the DynamoDB store and presence, the pusher and
// the ws use cases once per process, and hands ws/apigw's FanoutHandler to
// the Lambda runtime. It holds no business rule. Build it as `bootstrap`
// for provided.al2023 with scripts/lambda.sh.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
)

// handler is what the Lambda runtime invokes: ws/apigw's FanoutHandler
// with the function's metrics flushed after every batch
// (lambdaenv.Flushed).
type handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

var function = lambdaenv.Function[Config, handler]{
	Name:    "lambda-fanout",
	Config:  configFromEnv,
	Handler: newHandler,
	Start:   func(h handler) { lambda.Start(h) },
	Ready: func(c Config) []any {
		return []any{"fanout_parallelism", c.FanoutParallelism, "ws_endpoint", c.ManagementEndpoint}
	},
}

func main() { function.Main() }

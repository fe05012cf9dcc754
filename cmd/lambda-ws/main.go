// Command lambda-ws is the Lambda function behind the WebSocket API: API
// Gateway invokes it for $connect, $disconnect, $default and the routes
// sendMessage, markRead, sync and ping. It reads its configuration from
// the environment once (see Config), builds the SDK clients, the DynamoDB
// store and presence, the API Gateway Pusher and the ws use cases once per
// process (cmd/internal/lambdaenv, shared with cmd/lambda-api), and hands
// ws/apigw's handler to the Lambda runtime. It holds no business rule.
// Build it as `bootstrap` for provided.al2023 with scripts/lambda.sh.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
)

// handler is what the Lambda runtime invokes: ws/apigw's handler with the
// function's metrics flushed after every event (lambdaenv.Flushed).
type handler = func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

var function = lambdaenv.Function[Config, handler]{
	Name:    "lambda-ws",
	Config:  configFromEnv,
	Handler: newHandler,
	Start:   func(h handler) { lambda.Start(h) },
	Ready: func(c Config) []any {
		endpoint := c.ManagementEndpoint
		if endpoint == "" {
			endpoint = "per event"
		}
		return []any{"duplicate_connections", string(c.Policy), "fanout_parallelism", c.FanoutParallelism, "fanout_queue", c.FanoutQueueURL != "", "management_endpoint", endpoint}
	},
}

func main() { function.Main() }

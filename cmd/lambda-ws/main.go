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
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/ws/apigw"
)

var function = lambdaenv.Function[Config, *apigw.Handler]{
	Name:    "lambda-ws",
	Config:  configFromEnv,
	Handler: newHandler,
	Start:   func(h *apigw.Handler) { lambda.Start(withMetrics(h.Handle)) },
	Ready: func(c Config) []any {
		endpoint := c.ManagementEndpoint
		if endpoint == "" {
			endpoint = "per event"
		}
		return []any{"duplicate_connections", string(c.Policy), "fanout_parallelism", c.FanoutParallelism, "fanout_queue", c.FanoutQueueURL != "", "management_endpoint", endpoint}
	},
}

func main() { function.Main() }

// emf writes the function's metrics to its log; newHandler sets it.
var emf *metrics.EMF

// withMetrics flushes the metrics after every event, so each invocation's
// counts reach CloudWatch with its log lines.
func withMetrics(handle func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)) func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		resp, err := handle(ctx, req)
		if emf != nil {
			_ = emf.Flush() // a metric must never fail the event
		}
		return resp, err
	}
}

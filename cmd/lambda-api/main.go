// Command lambda-api is the Lambda function behind the HTTP API (payload
// format 2.0): catch-up, history, read cursors, rooms, membership and
// health, served by the same chi router as the local binary (package api)
// through aws-lambda-go-api-proxy. It reads its configuration from the
// environment once (lambdaenv.Config), builds the SDK clients, the DynamoDB
// store and presence (cmd/internal/lambdaenv, shared with cmd/lambda-ws)
// and the router once per process, and hands the adapter to the Lambda
// runtime. It holds no business rule. Build it as `bootstrap` for
// provided.al2023 with scripts/lambda.sh.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
)

// handler is what the Lambda runtime invokes: the router behind the HTTP
// API adapter, with the function's metrics flushed after every request
// (lambdaenv.Flushed).
type handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

var function = lambdaenv.Function[lambdaenv.Config, handler]{
	Name:    "lambda-api",
	Config:  configFromEnv,
	Handler: newHandler,
	Start:   func(h handler) { lambda.Start(h) },
}

func main() { function.Main() }

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
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
)

var function = lambdaenv.Function[lambdaenv.Config, *httpadapter.HandlerAdapterV2]{
	Name:    "lambda-api",
	Config:  configFromEnv,
	Handler: newHandler,
	Start:   func(h *httpadapter.HandlerAdapterV2) { lambda.Start(h.ProxyWithContext) },
}

func main() { function.Main() }

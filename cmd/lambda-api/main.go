// Command lambda-api is the Lambda function behind the HTTP API (payload
// format 2.0): catch-up, history, read cursors, rooms, membership and
// health, served by the same chi router as the local binary (package api)
// through aws-lambda-go-api-proxy. It reads its configuration from the
// environment once (see Config), builds the SDK clients, the DynamoDB store
// and presence and the router once per process, and hands the adapter to
// the Lambda runtime. It holds no business rule. Build it as `bootstrap`
// for provided.al2023 with scripts/lambda.sh.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	start := time.Now()
	cfg, err := configFromEnv(os.Getenv)
	log := newLogger(os.Stdout, cfg.LogLevel)
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(1)
	}
	h, err := newHandler(context.Background(), cfg, log)
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	log.Info("ready", "init_ms", float64(time.Since(start).Microseconds())/1000, "auth", cfg.Auth,
		"tables_messages", cfg.Tables.Messages)
	lambda.Start(h.ProxyWithContext)
}

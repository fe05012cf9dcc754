// Command lambda-ws is the Lambda function behind the WebSocket API: API
// Gateway invokes it for $connect, $disconnect, $default and the routes
// sendMessage, markRead, sync and ping. It reads its configuration from
// the environment once (see Config), builds the SDK clients, the DynamoDB
// store and presence, the API Gateway Pusher and the ws use cases once per
// process, and hands ws/apigw's handler to the Lambda runtime. It holds no
// business rule. Build it as `bootstrap` for provided.al2023 with
// scripts/lambda.sh.
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
		// Init fails visibly (Runtime.ExitError) instead of every event.
		log.Error("invalid configuration", "err", err)
		os.Exit(1)
	}
	h, err := newHandler(context.Background(), cfg, log)
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	log.Info("ready", "init_ms", float64(time.Since(start).Microseconds())/1000, "auth", cfg.Auth,
		"duplicate_connections", string(cfg.Policy), "fanout_parallelism", cfg.FanoutParallelism,
		"tables_messages", cfg.Tables.Messages)
	lambda.Start(h.Handle)
}

package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
)

// devIdentity is where dev mode takes the user id from on HTTP.
const devIdentity = "X-User-Id"

// configFromEnv reads the configuration, the variables of cmd/lambda-ws
// minus the realtime ones (lambdaenv.Config), and validates it.
func configFromEnv(getenv func(string) string) (lambdaenv.Config, error) {
	return lambdaenv.FromEnv(getenv, devIdentity)
}

// newHandler builds everything once per process: the shared pieces
// (lambdaenv.NewBackend), the membership and read-cursor service (a
// ws.Service, so that adding or removing a member also changes which
// online connections receive the room, and a moved read cursor reaches
// them as a receipt) and the chi router behind the API Gateway HTTP API
// (payload format 2.0) adapter, instrumented with m (requests by route
// and status, catch-up sizes and durations, the store and pushes as on
// lambda-ws) and m flushed after every request. opts are extra SDK load
// options (tests pass static credentials).
func newHandler(ctx context.Context, c lambdaenv.Config, log *slog.Logger, m *lambdaenv.Metrics, opts ...lambdaenv.LoadOption) (handler, error) {
	b, err := lambdaenv.NewBackend(ctx, c, opts...)
	if err != nil {
		return nil, err
	}
	b.Instrument(m.Metrics)
	members := b.Service(b.Pusher(log), log)
	// RatePerMinute stays 0: an in-process per-IP limit would count per
	// Lambda instance; API Gateway's stage throttling (serverless.yml) is
	// the limit here.
	router := api.New(api.Config{Sync: m.Catchup(b.Catchup), Members: members, Reads: members, Auth: b.Auth, Log: log, AllowedOrigins: c.AllowedOrigins, Epoch: b.Epoch})
	return lambdaenv.Flushed(m, httpadapter.NewV2(m.HTTP(withGatewayRequestID(router))).ProxyWithContext), nil
}

// withGatewayRequestID makes API Gateway's request id the request id the
// router logs and echoes (X-Request-Id), so one id finds a request in the
// API Gateway access log, the Lambda log and the client's report.
func withGatewayRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.RequestID != "" {
			r.Header.Set("X-Request-Id", rc.RequestID)
		}
		next.ServeHTTP(w, r)
	})
}

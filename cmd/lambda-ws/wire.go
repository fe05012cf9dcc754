package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	sqsfanout "github.com/tripsense/tripsense/fanout/sqs"
	"github.com/tripsense/tripsense/ws/apigw"
)

// newHandler builds everything the function needs, once per process: the
// shared pieces (lambdaenv.NewBackend) with an HTTP client that keeps
// enough idle connections per host for the fan-out's parallel calls, the
// Pusher and the ws use cases as configured, instrumented with m, and
// ws/apigw's handler with m flushed after every event. opts are extra SDK
// load options (tests pass static credentials).
func newHandler(ctx context.Context, c Config, log *slog.Logger, m *lambdaenv.Metrics, opts ...lambdaenv.LoadOption) (handler, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = max(64, 2*c.FanoutParallelism)
	})
	b, err := lambdaenv.NewBackend(ctx, c.Config, append([]lambdaenv.LoadOption{config.WithHTTPClient(httpClient)}, opts...)...)
	if err != nil {
		return nil, err
	}
	// Metrics: the ports decorated as on the single binary (sends, commit
	// latency, frames in and out, pushes, store errors).
	b.Instrument(m.Metrics)
	pusher := b.Pusher(log)
	pusher.MaxAttempts = c.PushAttempts
	svc := b.Service(pusher, log)
	svc.Policy = c.Policy
	svc.FanoutParallelism = c.FanoutParallelism
	if c.FanoutQueueURL != "" {
		client := sqs.NewFromConfig(b.AWS, func(o *sqs.Options) {
			if c.SQSEndpoint != "" {
				o.BaseEndpoint = aws.String(c.SQSEndpoint)
			}
		})
		svc.Fanout = &sqsfanout.Queue{Client: client, URL: c.FanoutQueueURL}
		svc.FanoutThreshold, svc.FanoutBatch = c.FanoutThreshold, c.FanoutBatch
	}
	h := &apigw.Handler{Service: svc, Connections: b.Presence, Pusher: pusher, Auth: b.Auth, Origins: c.AllowedOrigins, Log: log}
	return lambdaenv.Flushed(m, h.Handle), nil
}

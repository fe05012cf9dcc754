package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tripsense/tripsense/cmd/internal/buildinfo"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	sqsfanout "github.com/tripsense/tripsense/fanout/sqs"
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/ws/apigw"
)

// newHandler builds everything the function needs, once per process: the
// shared pieces (lambdaenv.NewBackend) with an HTTP client that keeps
// enough idle connections per host for the fan-out's parallel calls, the
// Pusher and the ws use cases as configured, and ws/apigw's handler. opts
// are extra SDK load options (tests pass static credentials).
func newHandler(ctx context.Context, c Config, log *slog.Logger, opts ...lambdaenv.LoadOption) (*apigw.Handler, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = max(64, 2*c.FanoutParallelism)
	})
	b, err := lambdaenv.NewBackend(ctx, c.Config, append([]lambdaenv.LoadOption{config.WithHTTPClient(httpClient)}, opts...)...)
	if err != nil {
		return nil, err
	}
	pusher := b.Pusher(log)
	pusher.MaxAttempts = c.PushAttempts
	svc := b.Service(pusher, log)
	// Metrics: the ports decorated as on the single binary, written as
	// CloudWatch EMF records to stdout (the function's log) after every
	// event (see main.go).
	bi := buildinfo.Get()
	mt := metrics.New(metrics.Build{Version: bi.Version, Revision: bi.Revision, GoVersion: bi.GoVersion})
	svc.Store = mt.Store(svc.Store)
	svc.Pusher = mt.Pusher(svc.Pusher)
	svc.Observer = mt
	emf = &metrics.EMF{Gatherer: mt.Registry, Namespace: "Tripsense", Dimensions: map[string]string{"function": "lambda-ws"}, Out: os.Stdout}
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
	return &apigw.Handler{Service: svc, Connections: b.Presence, Pusher: pusher, Auth: b.Auth, Origins: c.AllowedOrigins, Log: log}, nil
}

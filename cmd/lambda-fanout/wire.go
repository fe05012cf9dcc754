package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
)

// newHandler builds the consumer once per process: the SDK configuration
// with enough idle connections per host for parallel posts, the DynamoDB
// store and presence, the pusher on the configured endpoint, and the ws use
// cases (no authenticator: this function admits no connection),
// instrumented with m (jobs by result and duration, pushes and frames out,
// store errors) and m flushed after every batch.
func newHandler(ctx context.Context, c Config, log *slog.Logger, m *lambdaenv.Metrics, opts ...lambdaenv.LoadOption) (handler, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = max(64, 2*c.FanoutParallelism)
	})
	opts = append([]lambdaenv.LoadOption{config.WithRegion(c.Region), config.WithHTTPClient(httpClient)}, opts...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if c.DynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(c.DynamoEndpoint)
		}
	})
	dcfg := dynamo.Config{Tables: c.Tables}
	if err := dcfg.Validate(); err != nil {
		return nil, err
	}
	store, presence := dynamo.New(db, dcfg), dynamo.NewPresence(db, dcfg)
	pusher := &apigw.Pusher{
		Clients: &apigw.Clients{New: func(endpoint string) apigw.ManagementAPI {
			return apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
				o.BaseEndpoint = aws.String(endpoint)
			})
		}},
		Endpoint: c.ManagementEndpoint, Presence: presence, Timeout: c.PushTimeout, MaxAttempts: c.PushAttempts, Log: log,
	}
	svc := &ws.Service{Store: m.Store(store), Presence: presence, Pusher: m.Pusher(pusher), FanoutParallelism: c.FanoutParallelism, Log: log}
	h := &apigw.FanoutHandler{Service: m.Fanout(svc), Log: log}
	return lambdaenv.Flushed(m, h.Handle), nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/dynamo"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
)

// newLogger returns the JSON logger CloudWatch receives on stdout.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("fn", "lambda-ws")
}

// loadAWS loads the SDK configuration once: region from the config,
// credentials from the Lambda environment, and an HTTP client that keeps
// enough idle connections per host for the fan-out's parallel calls.
func loadAWS(ctx context.Context, c Config, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = max(64, 2*c.FanoutParallelism)
	})
	opts = append([]func(*config.LoadOptions) error{config.WithRegion(c.Region), config.WithHTTPClient(httpClient)}, opts...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return awsCfg, nil
}

func newAuthenticator(c Config) (tripsense.Authenticator, error) {
	if c.Auth == "token" {
		return auth.NewToken(c.TokenSecret)
	}
	admins := make(map[string]bool, len(c.Admins))
	for _, a := range c.Admins {
		admins[a] = true
	}
	return &auth.Dev{Admins: admins}, nil
}

// newHandler builds everything the function needs, once per process: the
// SDK clients, the DynamoDB store and presence, the Pusher and the ws use
// cases. opts are extra SDK load options (tests pass static credentials).
func newHandler(ctx context.Context, c Config, log *slog.Logger, opts ...func(*config.LoadOptions) error) (*apigw.Handler, error) {
	awsCfg, err := loadAWS(ctx, c, opts...)
	if err != nil {
		return nil, err
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
	store := dynamo.New(db, dcfg)
	presence := dynamo.NewPresence(db, dcfg)
	authn, err := newAuthenticator(c)
	if err != nil {
		return nil, err
	}
	pusher := &apigw.Pusher{
		Clients: &apigw.Clients{New: func(endpoint string) apigw.ManagementAPI {
			return apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
				o.BaseEndpoint = aws.String(endpoint)
			})
		}},
		Endpoint:    c.ManagementEndpoint,
		Presence:    presence,
		Timeout:     c.PushTimeout,
		MaxAttempts: c.PushAttempts,
		Log:         log,
	}
	svc := &ws.Service{
		Store:             store,
		Presence:          presence,
		Pusher:            pusher,
		Catchup:           &catchup.Service{Store: store},
		Policy:            c.Policy,
		FanoutParallelism: c.FanoutParallelism,
		Log:               log,
	}
	return &apigw.Handler{Service: svc, Connections: presence, Pusher: pusher, Auth: authn, Log: log}, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/dynamo"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
)

// newLogger returns the JSON logger CloudWatch receives on stdout.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("fn", "lambda-api")
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

// newHandler builds everything once per process: the SDK clients, the
// DynamoDB store and presence, the catch-up service, the membership service
// (a ws.Service, so that adding or removing a member also changes which
// online connections receive the room) and the chi router behind the API
// Gateway HTTP API (payload format 2.0) adapter. opts are extra SDK load
// options (tests pass static credentials).
func newHandler(ctx context.Context, c Config, log *slog.Logger, opts ...func(*config.LoadOptions) error) (*httpadapter.HandlerAdapterV2, error) {
	opts = append([]func(*config.LoadOptions) error{config.WithRegion(c.Region)}, opts...)
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
	store := dynamo.New(db, dcfg)
	presence := dynamo.NewPresence(db, dcfg)
	authn, err := newAuthenticator(c)
	if err != nil {
		return nil, err
	}
	catch := &catchup.Service{Store: store}
	members := &ws.Service{
		Store:    store,
		Presence: presence,
		Pusher: &apigw.Pusher{
			Clients: &apigw.Clients{New: func(endpoint string) apigw.ManagementAPI {
				return apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
					o.BaseEndpoint = aws.String(endpoint)
				})
			}},
			Endpoint: c.ManagementEndpoint,
			Presence: presence,
			Timeout:  c.PushTimeout,
			Log:      log,
		},
		Catchup: catch,
		Policy:  ws.Replace,
		Log:     log,
	}
	// RatePerMinute stays 0: an in-process per-IP limit would count per
	// Lambda instance; API Gateway's stage throttling (serverless.yml) is
	// the limit here.
	router := api.New(api.Config{Sync: catch, Members: members, Auth: authn, Log: log})
	return httpadapter.NewV2(withGatewayRequestID(router)), nil
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

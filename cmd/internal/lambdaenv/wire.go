package lambdaenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/store/dynamo"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
)

// LoadOption is an extra option of the SDK configuration: lambda-ws passes
// its HTTP client, tests pass static credentials.
type LoadOption = func(*config.LoadOptions) error

// NewLogger returns the JSON logger CloudWatch receives on stdout; fn
// (lambda-ws, lambda-api) tells the functions' records apart.
func NewLogger(w io.Writer, level slog.Level, fn string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("fn", fn)
}

// Backend is what both functions build once per process from the shared
// configuration.
type Backend struct {
	Config   Config
	AWS      aws.Config
	Store    *dynamo.Store
	Presence *dynamo.Presence
	Catchup  *catchup.Service
	Auth     tripsense.Authenticator
	// Epoch is the store's epoch (dynamo.Store.Epoch: the messages table's
	// identity), sent in every syncDone, GET /v1/sync answer and
	// Tripsense-Epoch header, so clients notice a restored table.
	Epoch string

	metrics *metrics.Metrics
	store   tripsense.Store // Store, decorated by metrics once Instrument ran
}

// Instrument makes the pieces built from b from now on report to m, as
// on the single binary: the store (sends, commit latency, errors) under
// the catch-up service and the ws use cases, the pusher (frames out,
// pushes), and the frames in (Observer).
func (b *Backend) Instrument(m *metrics.Metrics) {
	b.metrics = m
	b.store = m.Store(b.Store)
	b.Catchup = &catchup.Service{Store: b.store, Epoch: b.Epoch}
}

// NewBackend loads the SDK configuration (region from c, credentials from
// the Lambda environment, then opts), and builds the DynamoDB client, store
// and presence, the catch-up service and the identity mode's
// Authenticator, and reads the store's epoch (DescribeTable of the
// messages table). In token mode with TokenSecretParam it reads the secret
// from SSM first (ReadTokenSecret): once per process, at cold start.
func NewBackend(ctx context.Context, c Config, opts ...LoadOption) (*Backend, error) {
	opts = append([]LoadOption{config.WithRegion(c.Region)}, opts...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if c.DynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(c.DynamoEndpoint)
		}
	})
	dcfg := dynamo.Config{Tables: c.Tables, Retention: c.Retention}
	if err := dcfg.Validate(); err != nil {
		return nil, err
	}
	store := dynamo.New(db, dcfg)
	secret := c.TokenSecret
	if c.Auth == "token" && c.TokenSecretParam != "" {
		if secret, err = ReadTokenSecret(ctx, newSSM(awsCfg, c.SSMEndpoint), c.TokenSecretParam); err != nil {
			return nil, err
		}
	}
	authn, err := auth.New(c.Auth, secret, c.Admins)
	if err != nil {
		return nil, err
	}
	epoch, err := store.Epoch(ctx)
	if err != nil {
		return nil, err
	}
	return &Backend{
		Config:   c,
		AWS:      awsCfg,
		Store:    store,
		Presence: dynamo.NewPresence(db, dcfg),
		Catchup:  &catchup.Service{Store: store, Epoch: epoch},
		Auth:     authn,
		Epoch:    epoch,
		store:    store,
	}, nil
}

// Pusher returns the API Gateway pusher: one Management API client per
// endpoint from the shared SDK configuration, the configured endpoint
// (empty: each event's) and timeout, delivery reports to the presence.
func (b *Backend) Pusher(log *slog.Logger) *apigw.Pusher {
	return &apigw.Pusher{
		Clients: &apigw.Clients{New: func(endpoint string) apigw.ManagementAPI {
			return apigatewaymanagementapi.NewFromConfig(b.AWS, func(o *apigatewaymanagementapi.Options) {
				o.BaseEndpoint = aws.String(endpoint)
			})
		}},
		Endpoint: b.Config.ManagementEndpoint,
		Presence: b.Presence,
		Timeout:  b.Config.PushTimeout,
		Log:      log,
	}
}

// Service returns the ws use cases over the store, the presence, pusher and
// the catch-up service, with the replace policy and API Gateway's body
// limit, instrumented when Instrument ran; a function that configures more
// sets it on the result.
func (b *Backend) Service(pusher tripsense.Pusher, log *slog.Logger) *ws.Service {
	var authn tripsense.Authenticator
	if b.Config.Auth != "dev" {
		authn = b.Auth // auth frames: in-band token refresh
	}
	var obs ws.Observer
	if b.metrics != nil {
		pusher = b.metrics.Pusher(pusher)
		obs = b.metrics
	}
	return &ws.Service{
		Auth:     authn,
		Store:    b.store,
		Presence: b.Presence,
		Pusher:   pusher,
		Catchup:  b.Catchup,
		Observer: obs,
		Epoch:    b.Epoch,
		Policy:   ws.Replace,
		// A Lambda cannot push a deferred receipt after its invocation
		// returned: receipts go out at once.
		ReceiptInterval:     -1,
		MaxChatMessageBytes: tripsense.MaxChatMessageBytesGateway,
		Log:                 log,
	}
}

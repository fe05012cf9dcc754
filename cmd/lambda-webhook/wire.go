package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/webhook"
	webhookstream "github.com/tripsense/tripsense/webhook/stream"
)

// newHandler builds the consumer once per process: the DynamoDB store (the
// entries and members) and presence (who is online, for offlineMembers),
// and the sender with the secret read from SSM, instrumented with m
// (attempts by outcome and duration, the backlog the last batch left,
// store errors) and m flushed after every batch. Without a URL the handler
// has no sender and acknowledges every record.
func newHandler(ctx context.Context, c Config, log *slog.Logger, m *lambdaenv.Metrics, opts ...lambdaenv.LoadOption) (handler, error) {
	opts = append([]lambdaenv.LoadOption{config.WithRegion(c.Region)}, opts...)
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
	h := &webhookstream.Handler{Source: m.Store(dynamo.New(db, dcfg)), Online: dynamo.NewPresence(db, dcfg), Log: log, Observer: m}
	m.WebhookBacklog(func() (int, int, time.Duration, bool) {
		b := h.LastBacklog()
		return b.Pending, -1, b.Oldest, true // failed batches are in the dead-letter queue, not counted here
	})
	invoke := lambdaenv.Flushed(m, h.Handle)
	if c.URL == "" {
		log.Warn("TRIPSENSE_WEBHOOK_URL is empty: webhooks are off, stream records are acknowledged unsent")
		return invoke, nil
	}
	secret := c.Secret
	if c.SecretParam != "" {
		if secret, err = readSecret(ctx, awsCfg, c); err != nil {
			return nil, err
		}
	}
	if h.Sender, err = webhook.NewSender(c.URL, secret, c.Timeout, &http.Client{Timeout: c.Timeout}); err != nil {
		return nil, fmt.Errorf("TRIPSENSE_WEBHOOK_URL / secret: %w", err)
	}
	return invoke, nil
}

// readSecret reads the SecureString parameter (decrypted), bounded by
// lambdaenv.SecretTimeout; errors name the parameter, never its value.
func readSecret(ctx context.Context, awsCfg aws.Config, c Config) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, lambdaenv.SecretTimeout)
	defer cancel()
	client := ssm.NewFromConfig(awsCfg, func(o *ssm.Options) {
		if c.SSMEndpoint != "" {
			o.BaseEndpoint = aws.String(c.SSMEndpoint)
		}
	})
	out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(c.SecretParam), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("TRIPSENSE_WEBHOOK_SECRET_PARAM: read SSM parameter %s: %w", c.SecretParam, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil || out.Parameter.Type != ssmtypes.ParameterTypeSecureString {
		return "", fmt.Errorf("TRIPSENSE_WEBHOOK_SECRET_PARAM: SSM parameter %s must be a SecureString with a value", c.SecretParam)
	}
	if _, err := webhook.ParseSecret(*out.Parameter.Value); err != nil {
		return "", fmt.Errorf("TRIPSENSE_WEBHOOK_SECRET_PARAM: SSM parameter %s: %w", c.SecretParam, err)
	}
	return *out.Parameter.Value, nil
}

package main

import (
	"errors"
	"strings"
	"time"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
)

// Config is the function's configuration, read once at cold start: the
// shared variables it uses (tables, region, DynamoDB endpoint, the
// management endpoint, push timeout, log level; it authenticates nobody,
// so no identity mode or secret) and its own below. docs/deploy.md lists
// every variable.
type Config struct {
	lambdaenv.Config
	// FanoutParallelism bounds concurrent PostToConnection calls of one job
	// (TRIPSENSE_FANOUT_PARALLELISM, default 16).
	FanoutParallelism int
	// PushAttempts bounds the posts of a throttled push
	// (TRIPSENSE_PUSH_ATTEMPTS, default 3).
	PushAttempts int
}

func configFromEnv(getenv func(string) string) (Config, error) {
	shared, errs := lambdaenv.Read(getenv)
	c := Config{Config: shared}
	var err error
	if c.FanoutParallelism, err = lambdaenv.EnvInt(getenv, "TRIPSENSE_FANOUT_PARALLELISM", 16); err != nil {
		errs = append(errs, err)
	}
	if c.PushAttempts, err = lambdaenv.EnvInt(getenv, "TRIPSENSE_PUSH_ATTEMPTS", 3); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Validate checks the configuration. The management endpoint is required:
// an SQS event names no WebSocket API.
func (c Config) Validate() error {
	var errs []error
	if err := c.Tables.Validate(); err != nil {
		errs = append(errs, errors.New("set TRIPSENSE_TABLE_PREFIX (or every TRIPSENSE_TABLE_*): "+err.Error()))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("AWS_REGION is empty"))
	}
	if !strings.HasPrefix(c.ManagementEndpoint, "https://") && !strings.HasPrefix(c.ManagementEndpoint, "http://") {
		errs = append(errs, errors.New("TRIPSENSE_WS_ENDPOINT must be the WebSocket API's management endpoint, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}"))
	}
	if c.PushTimeout <= 0 || c.PushTimeout > 29*time.Second {
		errs = append(errs, errors.New("TRIPSENSE_PUSH_TIMEOUT must be in (0, 29s]"))
	}
	if c.FanoutParallelism < 1 || c.FanoutParallelism > 256 {
		errs = append(errs, errors.New("TRIPSENSE_FANOUT_PARALLELISM must be 1-256"))
	}
	if c.PushAttempts < 1 || c.PushAttempts > 10 {
		errs = append(errs, errors.New("TRIPSENSE_PUSH_ATTEMPTS must be 1-10"))
	}
	return errors.Join(errs...)
}

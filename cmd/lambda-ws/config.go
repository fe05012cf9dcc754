package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/ws"
)

// Config is the function's configuration: the variables both functions read
// (lambdaenv.Config) and the realtime ones below, read once from the
// environment at cold start (configFromEnv) and checked by Validate.
// docs/deploy.md lists every variable; serverless.yml sets them.
type Config struct {
	lambdaenv.Config
	// Policy is TRIPSENSE_DUPLICATE_CONNECTIONS: replace (default),
	// refuse or allow.
	Policy ws.DuplicatePolicy
	// FanoutParallelism bounds concurrent PostToConnection calls of one
	// message (TRIPSENSE_FANOUT_PARALLELISM, default 16).
	FanoutParallelism int
	// PushAttempts bounds the posts of a throttled push
	// (TRIPSENSE_PUSH_ATTEMPTS, default 3).
	PushAttempts int
	// FanoutQueueURL (TRIPSENSE_FANOUT_QUEUE_URL) is the SQS queue that
	// takes the fan-out of large rooms; empty: every fan-out is direct.
	FanoutQueueURL string
	// SQSEndpoint (TRIPSENSE_SQS_ENDPOINT) points the SQS client elsewhere
	// (tests); empty in AWS.
	SQSEndpoint string
	// FanoutThreshold is the room size in online connections above which
	// fan-out is queued (TRIPSENSE_FANOUT_THRESHOLD, default 500).
	FanoutThreshold int
	// FanoutBatch is how many connections one queued job holds
	// (TRIPSENSE_FANOUT_BATCH, default 100).
	FanoutBatch int
}

// devIdentity is where dev mode takes the user id from on $connect.
const devIdentity = "?userId="

// configFromEnv reads the configuration and validates it. Every problem is
// reported at once.
func configFromEnv(getenv func(string) string) (Config, error) {
	shared, errs := lambdaenv.Read(getenv)
	c := Config{Config: shared}
	var err error
	if c.Policy, err = ws.ParsePolicy(lambdaenv.EnvOr(getenv, "TRIPSENSE_DUPLICATE_CONNECTIONS", string(ws.Replace))); err != nil {
		errs = append(errs, fmt.Errorf("TRIPSENSE_DUPLICATE_CONNECTIONS: %w", err))
	}
	if c.FanoutParallelism, err = lambdaenv.EnvInt(getenv, "TRIPSENSE_FANOUT_PARALLELISM", 16); err != nil {
		errs = append(errs, err)
	}
	if c.PushAttempts, err = lambdaenv.EnvInt(getenv, "TRIPSENSE_PUSH_ATTEMPTS", 3); err != nil {
		errs = append(errs, err)
	}
	c.FanoutQueueURL, c.SQSEndpoint = getenv("TRIPSENSE_FANOUT_QUEUE_URL"), getenv("TRIPSENSE_SQS_ENDPOINT")
	if c.FanoutThreshold, err = lambdaenv.EnvInt(getenv, "TRIPSENSE_FANOUT_THRESHOLD", ws.DefaultFanoutThreshold); err != nil {
		errs = append(errs, err)
	}
	if c.FanoutBatch, err = lambdaenv.EnvInt(getenv, "TRIPSENSE_FANOUT_BATCH", ws.DefaultFanoutBatch); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Validate checks the configuration.
func (c Config) Validate() error {
	errs := c.Config.Check(devIdentity)
	if _, err := ws.ParsePolicy(string(c.Policy)); err != nil {
		errs = append(errs, err)
	}
	if c.FanoutParallelism < 1 || c.FanoutParallelism > 256 {
		errs = append(errs, errors.New("TRIPSENSE_FANOUT_PARALLELISM must be 1-256"))
	}
	if c.PushAttempts < 1 || c.PushAttempts > 10 {
		errs = append(errs, errors.New("TRIPSENSE_PUSH_ATTEMPTS must be 1-10"))
	}
	if c.FanoutQueueURL != "" && !strings.HasPrefix(c.FanoutQueueURL, "https://") && !strings.HasPrefix(c.FanoutQueueURL, "http://") {
		errs = append(errs, fmt.Errorf("TRIPSENSE_FANOUT_QUEUE_URL %q: want the queue's URL, https://sqs.{region}.amazonaws.com/{account}/{name}", c.FanoutQueueURL))
	}
	if c.FanoutThreshold < 1 {
		errs = append(errs, errors.New("TRIPSENSE_FANOUT_THRESHOLD must be at least 1"))
	}
	// A job is one SQS message (256 KiB): 1000 connection ids fit easily.
	if c.FanoutBatch < 1 || c.FanoutBatch > 1000 {
		errs = append(errs, errors.New("TRIPSENSE_FANOUT_BATCH must be 1-1000"))
	}
	return errors.Join(errs...)
}

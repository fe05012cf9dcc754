package lambdaenv

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"
)

// Function is one Lambda main: how it reads its configuration C, builds its
// handler H once per process and hands it to the Lambda runtime.
type Function[C interface{ Shared() Config }, H any] struct {
	// Name is the logs' fn: lambda-ws, lambda-api.
	Name string
	// Config reads and checks the configuration.
	Config func(getenv func(string) string) (C, error)
	// Handler builds the handler from a valid configuration, with the
	// function's logger and metrics (m: written to the log as EMF records
	// after every invocation when the handler is wrapped in Flushed).
	Handler func(ctx context.Context, c C, log *slog.Logger, m *Metrics, opts ...LoadOption) (H, error)
	// Start hands the handler to the Lambda runtime (lambda.Start).
	Start func(H)
	// Ready are the function's own attributes of the "ready" record.
	Ready func(C) []any
}

// Init is the cold start up to the runtime: it reads the configuration with
// getenv, logs to w at the configured level, and builds the handler (opts
// are extra SDK options). It logs why it fails, or "ready" with the init
// time. The logs and the metrics' EMF records share w, one line per write.
func (f Function[C, H]) Init(ctx context.Context, getenv func(string) string, w io.Writer, opts ...LoadOption) (H, error) {
	start := time.Now()
	var none H
	cfg, err := f.Config(getenv)
	c := cfg.Shared()
	w = &lockedWriter{w: w}
	log := NewLogger(w, c.LogLevel, f.Name)
	if err != nil {
		log.Error("invalid configuration", "err", err)
		return none, err
	}
	h, err := f.Handler(ctx, cfg, log, NewMetrics(f.Name, w, log), opts...)
	if err != nil {
		log.Error("init failed", "err", err)
		return none, err
	}
	attrs := []any{"init_ms", float64(time.Since(start).Microseconds()) / 1000, "auth", c.Auth}
	if c.Auth == "token" {
		from := "environment"
		if c.TokenSecretParam != "" {
			from = "ssm:" + c.TokenSecretParam
		}
		attrs = append(attrs, "token_secret", from)
	}
	if f.Ready != nil {
		attrs = append(attrs, f.Ready(cfg)...)
	}
	log.Info("ready", append(attrs, "tables_messages", c.Tables.Messages)...)
	return h, nil
}

// Main runs Init with the process's environment and stdout and starts the
// handler. An invalid configuration or a failed build exits with status 1,
// so that the init fails visibly (Runtime.ExitError) instead of every
// event.
func (f Function[C, H]) Main() {
	h, err := f.Init(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		os.Exit(1)
	}
	f.Start(h)
}

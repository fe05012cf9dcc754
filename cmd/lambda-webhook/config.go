package main

import (
	"errors"
	"time"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/webhook"
)

// Config is the function's configuration: the shared variables (tables,
// region, endpoints, log level; it authenticates nobody) and its own.
type Config struct {
	lambdaenv.Config
	// URL receives the webhooks (TRIPSENSE_WEBHOOK_URL). Empty turns
	// webhooks off: every record is acknowledged and nothing is sent.
	URL string
	// SecretParam names the SSM SecureString holding the whsec_ secret
	// (TRIPSENSE_WEBHOOK_SECRET_PARAM); Secret is the secret itself
	// (TRIPSENSE_WEBHOOK_SECRET, for tests) when no parameter is named.
	SecretParam string
	Secret      string
	// Timeout bounds one delivery (TRIPSENSE_WEBHOOK_TIMEOUT, default 10s).
	Timeout time.Duration
}

func configFromEnv(getenv func(string) string) (Config, error) {
	shared, errs := lambdaenv.Read(getenv)
	c := Config{Config: shared, URL: getenv("TRIPSENSE_WEBHOOK_URL"), SecretParam: getenv("TRIPSENSE_WEBHOOK_SECRET_PARAM"),
		Secret: getenv("TRIPSENSE_WEBHOOK_SECRET"), Timeout: webhook.DefaultTimeout}
	if v := getenv("TRIPSENSE_WEBHOOK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, errors.New("TRIPSENSE_WEBHOOK_TIMEOUT: want a duration such as 10s"))
		}
		c.Timeout = d
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Validate checks the configuration. The secret itself is checked once it
// is read (from SSM at cold start).
func (c Config) Validate() error {
	var errs []error
	if err := c.Tables.Validate(); err != nil {
		errs = append(errs, errors.New("set TRIPSENSE_TABLE_PREFIX (or every TRIPSENSE_TABLE_*): "+err.Error()))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("AWS_REGION is empty"))
	}
	if c.URL != "" && c.SecretParam == "" && c.Secret == "" {
		errs = append(errs, errors.New("TRIPSENSE_WEBHOOK_URL is set: name the signing secret's SSM parameter in TRIPSENSE_WEBHOOK_SECRET_PARAM"))
	}
	if c.Timeout <= 0 || c.Timeout > 60*time.Second {
		errs = append(errs, errors.New("TRIPSENSE_WEBHOOK_TIMEOUT must be in (0, 60s]"))
	}
	return errors.Join(errs...)
}

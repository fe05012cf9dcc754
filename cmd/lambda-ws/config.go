package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/ws"
)

// Config is the function's configuration, read once from the environment
// at cold start (configFromEnv) and checked by Validate. docs/deploy.md
// lists every variable; serverless.yml sets them.
type Config struct {
	// Tables are the DynamoDB table names: TRIPSENSE_TABLE_PREFIX plus the
	// base names, each overridable with TRIPSENSE_TABLE_<BASE>, for
	// example TRIPSENSE_TABLE_MESSAGES.
	Tables dynamo.Tables
	// Region is AWS_REGION (Lambda sets it).
	Region string
	// DynamoEndpoint (TRIPSENSE_DYNAMODB_ENDPOINT) points the DynamoDB
	// client elsewhere (dynalite, DynamoDB Local); empty in AWS.
	DynamoEndpoint string
	// Auth is the identity mode, TRIPSENSE_AUTH: token (the default) or dev.
	Auth string
	// TokenSecret is TRIPSENSE_TOKEN_SECRET, the HMAC key of token mode
	// (at least 32 bytes).
	TokenSecret string
	// InsecureDevIdentity (TRIPSENSE_INSECURE_DEV_IDENTITY) must be true
	// for dev mode: on a public endpoint anyone can then claim any user.
	InsecureDevIdentity bool
	// Admins are the admin user ids in dev mode (TRIPSENSE_ADMINS,
	// comma-separated, default "admin").
	Admins []string
	// Policy is TRIPSENSE_DUPLICATE_CONNECTIONS: replace (default),
	// refuse or allow.
	Policy ws.DuplicatePolicy
	// ManagementEndpoint (TRIPSENSE_WS_ENDPOINT) overrides the endpoint
	// derived from each event (https://{domainName}/{stage}); needed behind
	// a custom domain name.
	ManagementEndpoint string
	// FanoutParallelism bounds concurrent PostToConnection calls of one
	// message (TRIPSENSE_FANOUT_PARALLELISM, default 16).
	FanoutParallelism int
	// PushTimeout bounds one push, retries included (TRIPSENSE_PUSH_TIMEOUT,
	// a Go duration, default 5s).
	PushTimeout time.Duration
	// PushAttempts bounds the posts of a throttled push
	// (TRIPSENSE_PUSH_ATTEMPTS, default 3).
	PushAttempts int
	// LogLevel is TRIPSENSE_LOG_LEVEL: debug, info (default), warn, error.
	LogLevel slog.Level
}

// tableEnv maps each table's base name to the variable that overrides it.
var tableEnv = map[string]string{
	dynamo.BaseMessages:        "TRIPSENSE_TABLE_MESSAGES",
	dynamo.BaseDedupe:          "TRIPSENSE_TABLE_MESSAGE_DEDUPE",
	dynamo.BaseUserRoom:        "TRIPSENSE_TABLE_USER_ROOM",
	dynamo.BaseReadCursors:     "TRIPSENSE_TABLE_READ_CURSORS",
	dynamo.BaseConnections:     "TRIPSENSE_TABLE_CONNECTIONS",
	dynamo.BaseRoomConnections: "TRIPSENSE_TABLE_ROOM_CONNECTIONS",
}

// configFromEnv reads the configuration and validates it. Every problem is
// reported at once.
func configFromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	c := Config{
		Region:             getenv("AWS_REGION"),
		DynamoEndpoint:     getenv("TRIPSENSE_DYNAMODB_ENDPOINT"),
		Auth:               envOr(getenv, "TRIPSENSE_AUTH", "token"),
		TokenSecret:        getenv("TRIPSENSE_TOKEN_SECRET"),
		ManagementEndpoint: getenv("TRIPSENSE_WS_ENDPOINT"),
		FanoutParallelism:  16,
		PushTimeout:        5 * time.Second,
		PushAttempts:       3,
	}
	if p := getenv("TRIPSENSE_TABLE_PREFIX"); p != "" {
		c.Tables = dynamo.TablesWithPrefix(p)
	}
	for _, s := range dynamo.TableSpecs() {
		if v := getenv(tableEnv[s.Base]); v != "" {
			setTable(&c.Tables, s.Base, v)
		}
	}
	var err error
	if c.InsecureDevIdentity, err = envBool(getenv, "TRIPSENSE_INSECURE_DEV_IDENTITY"); err != nil {
		errs = append(errs, err)
	}
	for _, a := range strings.Split(envOr(getenv, "TRIPSENSE_ADMINS", "admin"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Admins = append(c.Admins, a)
		}
	}
	if c.Policy, err = ws.ParsePolicy(envOr(getenv, "TRIPSENSE_DUPLICATE_CONNECTIONS", string(ws.Replace))); err != nil {
		errs = append(errs, fmt.Errorf("TRIPSENSE_DUPLICATE_CONNECTIONS: %w", err))
	}
	if v := getenv("TRIPSENSE_FANOUT_PARALLELISM"); v != "" {
		if c.FanoutParallelism, err = strconv.Atoi(v); err != nil {
			errs = append(errs, fmt.Errorf("TRIPSENSE_FANOUT_PARALLELISM %q: not a number", v))
		}
	}
	if v := getenv("TRIPSENSE_PUSH_ATTEMPTS"); v != "" {
		if c.PushAttempts, err = strconv.Atoi(v); err != nil {
			errs = append(errs, fmt.Errorf("TRIPSENSE_PUSH_ATTEMPTS %q: not a number", v))
		}
	}
	if v := getenv("TRIPSENSE_PUSH_TIMEOUT"); v != "" {
		if c.PushTimeout, err = time.ParseDuration(v); err != nil {
			errs = append(errs, fmt.Errorf("TRIPSENSE_PUSH_TIMEOUT %q: want a duration such as 5s", v))
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(envOr(getenv, "TRIPSENSE_LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("TRIPSENSE_LOG_LEVEL: %w", err))
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if err := c.Tables.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("set TRIPSENSE_TABLE_PREFIX (or every TRIPSENSE_TABLE_*): %w", err))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("AWS_REGION is empty"))
	}
	switch c.Auth {
	case "token":
		if len(c.TokenSecret) < auth.MinSecretLen {
			errs = append(errs, fmt.Errorf("token mode needs TRIPSENSE_TOKEN_SECRET of at least %d bytes", auth.MinSecretLen))
		}
	case "dev":
		if !c.InsecureDevIdentity {
			errs = append(errs, errors.New("TRIPSENSE_AUTH=dev trusts any ?userId=: on a deployed API anyone could act as anyone; set TRIPSENSE_INSECURE_DEV_IDENTITY=true if you really mean it"))
		}
	default:
		errs = append(errs, fmt.Errorf("TRIPSENSE_AUTH %q: want token or dev", c.Auth))
	}
	if _, err := ws.ParsePolicy(string(c.Policy)); err != nil {
		errs = append(errs, err)
	}
	if c.ManagementEndpoint != "" && !strings.HasPrefix(c.ManagementEndpoint, "https://") && !strings.HasPrefix(c.ManagementEndpoint, "http://") {
		errs = append(errs, fmt.Errorf("TRIPSENSE_WS_ENDPOINT %q: want https://{domain}/{stage}", c.ManagementEndpoint))
	}
	if c.FanoutParallelism < 1 || c.FanoutParallelism > 256 {
		errs = append(errs, errors.New("TRIPSENSE_FANOUT_PARALLELISM must be 1-256"))
	}
	if c.PushAttempts < 1 || c.PushAttempts > 10 {
		errs = append(errs, errors.New("TRIPSENSE_PUSH_ATTEMPTS must be 1-10"))
	}
	if c.PushTimeout <= 0 || c.PushTimeout > 29*time.Second {
		errs = append(errs, errors.New("TRIPSENSE_PUSH_TIMEOUT must be in (0, 29s]"))
	}
	return errors.Join(errs...)
}

func setTable(t *dynamo.Tables, base, name string) {
	switch base {
	case dynamo.BaseMessages:
		t.Messages = name
	case dynamo.BaseDedupe:
		t.Dedupe = name
	case dynamo.BaseUserRoom:
		t.UserRoom = name
	case dynamo.BaseReadCursors:
		t.ReadCursors = name
	case dynamo.BaseConnections:
		t.Connections = name
	case dynamo.BaseRoomConnections:
		t.RoomConnections = name
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func envBool(getenv func(string) string, key string) (bool, error) {
	v := getenv(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q: want true or false", key, v)
	}
	return b, nil
}

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
)

// Config is the function's configuration, read once from the environment
// at cold start (configFromEnv) and checked by Validate. The variables are
// those of cmd/lambda-ws minus the realtime ones; docs/deploy.md lists
// them and a test checks that both functions read the shared ones alike.
type Config struct {
	// Tables: TRIPSENSE_TABLE_PREFIX plus the base names, each overridable
	// with TRIPSENSE_TABLE_<BASE>.
	Tables dynamo.Tables
	// Region is AWS_REGION (Lambda sets it).
	Region string
	// DynamoEndpoint is TRIPSENSE_DYNAMODB_ENDPOINT (emulators only).
	DynamoEndpoint string
	// Auth is TRIPSENSE_AUTH: token (default) or dev.
	Auth string
	// TokenSecret is TRIPSENSE_TOKEN_SECRET (token mode, >= 32 bytes).
	TokenSecret string
	// InsecureDevIdentity (TRIPSENSE_INSECURE_DEV_IDENTITY) must be true
	// for dev mode.
	InsecureDevIdentity bool
	// Admins are the admin user ids in dev mode (TRIPSENSE_ADMINS, default
	// "admin"); in token mode the token's admin claim decides.
	Admins []string
	// ManagementEndpoint (TRIPSENSE_WS_ENDPOINT) is the WebSocket API's
	// management endpoint, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}.
	// No HTTP use case pushes today; it is there so that the membership
	// service is complete.
	ManagementEndpoint string
	// PushTimeout bounds one push (TRIPSENSE_PUSH_TIMEOUT, default 5s).
	PushTimeout time.Duration
	// LogLevel is TRIPSENSE_LOG_LEVEL: debug, info (default), warn, error.
	LogLevel slog.Level
}

var tableEnv = map[string]string{
	dynamo.BaseMessages:        "TRIPSENSE_TABLE_MESSAGES",
	dynamo.BaseDedupe:          "TRIPSENSE_TABLE_MESSAGE_DEDUPE",
	dynamo.BaseUserRoom:        "TRIPSENSE_TABLE_USER_ROOM",
	dynamo.BaseReadCursors:     "TRIPSENSE_TABLE_READ_CURSORS",
	dynamo.BaseConnections:     "TRIPSENSE_TABLE_CONNECTIONS",
	dynamo.BaseRoomConnections: "TRIPSENSE_TABLE_ROOM_CONNECTIONS",
}

// configFromEnv reads the configuration and validates it.
func configFromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	c := Config{
		Region:             getenv("AWS_REGION"),
		DynamoEndpoint:     getenv("TRIPSENSE_DYNAMODB_ENDPOINT"),
		Auth:               envOr(getenv, "TRIPSENSE_AUTH", "token"),
		TokenSecret:        getenv("TRIPSENSE_TOKEN_SECRET"),
		ManagementEndpoint: getenv("TRIPSENSE_WS_ENDPOINT"),
		PushTimeout:        5 * time.Second,
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
			errs = append(errs, errors.New("TRIPSENSE_AUTH=dev trusts any X-User-Id: on a deployed API anyone could act as anyone; set TRIPSENSE_INSECURE_DEV_IDENTITY=true if you really mean it"))
		}
	default:
		errs = append(errs, fmt.Errorf("TRIPSENSE_AUTH %q: want token or dev", c.Auth))
	}
	if c.ManagementEndpoint != "" && !strings.HasPrefix(c.ManagementEndpoint, "https://") && !strings.HasPrefix(c.ManagementEndpoint, "http://") {
		errs = append(errs, fmt.Errorf("TRIPSENSE_WS_ENDPOINT %q: want https://{domain}/{stage}", c.ManagementEndpoint))
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

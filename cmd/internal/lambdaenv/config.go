// Package lambdaenv is what the two Lambda mains, cmd/lambda-ws and
// cmd/lambda-api, share: the environment variables both read (Config, Read,
// Check), the pieces both build once per process from them (NewBackend:
// the SDK configuration, the DynamoDB store and presence, the identity
// mode, the API Gateway pusher and the ws use cases) and the cold start
// itself (Function). Each main adds only its own variables and handler.
// docs/deploy.md documents every variable.
package lambdaenv

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/dynamo"
)

// Config is the configuration both functions read once from the
// environment at cold start (Read) and check (Check). A function with
// variables of its own embeds it.
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
	// TokenSecretParam is TRIPSENSE_TOKEN_SECRET_PARAM, the name (or ARN)
	// of the SSM SecureString parameter that holds the HMAC key of token
	// mode; NewBackend reads it, decrypted, once at cold start. This is how
	// serverless.yml configures the functions: the environment holds only
	// the name, never the secret.
	TokenSecretParam string
	// SSMEndpoint (TRIPSENSE_SSM_ENDPOINT) points the SSM client elsewhere
	// (a test double); empty in AWS.
	SSMEndpoint string
	// TokenSecret is TRIPSENSE_TOKEN_SECRET, the HMAC key of token mode
	// itself (at least 32 bytes), for runs outside AWS (tests, the runtime
	// interface emulator). Set it or TokenSecretParam, not both.
	TokenSecret string
	// InsecureDevIdentity (TRIPSENSE_INSECURE_DEV_IDENTITY) must be true
	// for dev mode: on a public endpoint anyone can then claim any user.
	InsecureDevIdentity bool
	// Admins are the admin user ids in dev mode (TRIPSENSE_ADMINS,
	// comma-separated, default "admin"); in token mode the token's admin
	// claim decides.
	Admins []string
	// ManagementEndpoint (TRIPSENSE_WS_ENDPOINT) is the WebSocket API's
	// management endpoint, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}.
	// lambda-ws derives it from each event when it is empty (it must be
	// set behind a custom domain name); no HTTP use case pushes today, it
	// is there so that the membership service is complete.
	ManagementEndpoint string
	// AllowedOrigins (TRIPSENSE_ALLOWED_ORIGINS, comma-separated) are the
	// browser origins allowed besides the same origin: by the $connect
	// Origin check and the HTTP API's CORS (serverless.yml also sets the
	// HTTP API's own CORS from the same list).
	AllowedOrigins tripsense.Origins
	// PushTimeout bounds one push, retries included (TRIPSENSE_PUSH_TIMEOUT,
	// a Go duration, default 5s).
	PushTimeout time.Duration
	// LogLevel is TRIPSENSE_LOG_LEVEL: debug, info (default), warn, error.
	LogLevel slog.Level
}

// Shared returns c; a function's configuration that embeds Config has it
// too, which is what Function needs.
func (c Config) Shared() Config { return c }

// tableEnv maps each table's base name to the variable that overrides it.
var tableEnv = map[string]string{
	dynamo.BaseMessages:        "TRIPSENSE_TABLE_MESSAGES",
	dynamo.BaseDedupe:          "TRIPSENSE_TABLE_MESSAGE_DEDUPE",
	dynamo.BaseUserRoom:        "TRIPSENSE_TABLE_USER_ROOM",
	dynamo.BaseReadCursors:     "TRIPSENSE_TABLE_READ_CURSORS",
	dynamo.BaseReadReceipts:    "TRIPSENSE_TABLE_READ_RECEIPTS",
	dynamo.BaseConnections:     "TRIPSENSE_TABLE_CONNECTIONS",
	dynamo.BaseRoomConnections: "TRIPSENSE_TABLE_ROOM_CONNECTIONS",
	dynamo.BaseUserConnections: "TRIPSENSE_TABLE_USER_CONNECTIONS",
	dynamo.BaseWatermarks:      "TRIPSENSE_TABLE_WATERMARKS",
}

// FromEnv reads the configuration of a function without variables of its
// own and checks it; devIdentity is where dev mode takes the user id from,
// for the error message (see Check). Every problem is reported at once.
func FromEnv(getenv func(string) string, devIdentity string) (Config, error) {
	c, errs := Read(getenv)
	if len(errs) == 0 {
		errs = c.Check(devIdentity)
	}
	return c, errors.Join(errs...)
}

// Read reads the shared variables and returns every one it could not parse
// (the configuration is not checked yet: see Check).
func Read(getenv func(string) string) (Config, []error) {
	var errs []error
	c := Config{
		Region:             getenv("AWS_REGION"),
		DynamoEndpoint:     getenv("TRIPSENSE_DYNAMODB_ENDPOINT"),
		Auth:               EnvOr(getenv, "TRIPSENSE_AUTH", "token"),
		TokenSecret:        getenv("TRIPSENSE_TOKEN_SECRET"),
		TokenSecretParam:   getenv("TRIPSENSE_TOKEN_SECRET_PARAM"),
		SSMEndpoint:        getenv("TRIPSENSE_SSM_ENDPOINT"),
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
	if c.InsecureDevIdentity, err = EnvBool(getenv, "TRIPSENSE_INSECURE_DEV_IDENTITY"); err != nil {
		errs = append(errs, err)
	}
	for _, a := range strings.Split(EnvOr(getenv, "TRIPSENSE_ADMINS", "admin"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Admins = append(c.Admins, a)
		}
	}
	if c.AllowedOrigins, err = tripsense.ParseOrigins(getenv("TRIPSENSE_ALLOWED_ORIGINS")); err != nil {
		errs = append(errs, fmt.Errorf("TRIPSENSE_ALLOWED_ORIGINS: %s", tripsense.ErrorMessage(err)))
	}
	if v := getenv("TRIPSENSE_PUSH_TIMEOUT"); v != "" {
		if c.PushTimeout, err = time.ParseDuration(v); err != nil {
			errs = append(errs, fmt.Errorf("TRIPSENSE_PUSH_TIMEOUT %q: want a duration such as 5s", v))
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(EnvOr(getenv, "TRIPSENSE_LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("TRIPSENSE_LOG_LEVEL: %w", err))
	}
	return c, errs
}

// Check returns every problem of the configuration. devIdentity names where
// dev mode takes the user id from ("?userId=" for WebSocket, "X-User-Id"
// for HTTP), for the message that refuses dev mode without
// TRIPSENSE_INSECURE_DEV_IDENTITY.
func (c Config) Check(devIdentity string) []error {
	var errs []error
	if err := c.Tables.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("set TRIPSENSE_TABLE_PREFIX (or every TRIPSENSE_TABLE_*): %w", err))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("AWS_REGION is empty"))
	}
	switch c.Auth {
	case "token":
		switch {
		case c.TokenSecretParam != "" && c.TokenSecret != "":
			errs = append(errs, errors.New("token mode: set TRIPSENSE_TOKEN_SECRET_PARAM (the SSM parameter's name) or TRIPSENSE_TOKEN_SECRET (the secret), not both"))
		case c.TokenSecretParam != "":
			if len(c.TokenSecretParam) > 2048 || !paramName.MatchString(c.TokenSecretParam) {
				errs = append(errs, fmt.Errorf("TRIPSENSE_TOKEN_SECRET_PARAM %q: want the name of an SSM parameter, such as /tripsense/prod/token-secret, or its ARN", c.TokenSecretParam))
			}
		case c.TokenSecret != "":
			if err := auth.CheckSecret(c.TokenSecret); err != nil {
				errs = append(errs, fmt.Errorf("TRIPSENSE_TOKEN_SECRET: %w", err))
			}
		default:
			errs = append(errs, fmt.Errorf("token mode needs TRIPSENSE_TOKEN_SECRET_PARAM (the name of the SSM SecureString parameter that holds the secret; serverless.yml sets it) or TRIPSENSE_TOKEN_SECRET (the secret itself, at least %d bytes)", auth.MinSecretLen))
		}
	case "dev":
		if !c.InsecureDevIdentity {
			errs = append(errs, fmt.Errorf("TRIPSENSE_AUTH=dev trusts any %s: on a deployed API anyone could act as anyone; set TRIPSENSE_INSECURE_DEV_IDENTITY=true if you really mean it", devIdentity))
		}
	default:
		errs = append(errs, fmt.Errorf("TRIPSENSE_AUTH %q: want token or dev", c.Auth))
	}
	if err := c.AllowedOrigins.CheckIdentityMode(c.Auth == "dev"); err != nil {
		errs = append(errs, fmt.Errorf("TRIPSENSE_ALLOWED_ORIGINS: %s", tripsense.ErrorMessage(err)))
	}
	if c.SSMEndpoint != "" && !strings.HasPrefix(c.SSMEndpoint, "https://") && !strings.HasPrefix(c.SSMEndpoint, "http://") {
		errs = append(errs, fmt.Errorf("TRIPSENSE_SSM_ENDPOINT %q: want an http(s) URL", c.SSMEndpoint))
	}
	if c.ManagementEndpoint != "" && !strings.HasPrefix(c.ManagementEndpoint, "https://") && !strings.HasPrefix(c.ManagementEndpoint, "http://") {
		errs = append(errs, fmt.Errorf("TRIPSENSE_WS_ENDPOINT %q: want https://{domain}/{stage}", c.ManagementEndpoint))
	}
	if c.PushTimeout <= 0 || c.PushTimeout > 29*time.Second {
		errs = append(errs, errors.New("TRIPSENSE_PUSH_TIMEOUT must be in (0, 29s]"))
	}
	return errs
}

// paramName matches an SSM parameter name (a path /a/b/c, or a name
// without slashes) or a parameter's ARN, as GetParameter takes them. It
// refuses anything with a brace or a dollar sign, so an unresolved ${...}
// or {{resolve:...}} is never taken for a name.
var paramName = regexp.MustCompile(`^(/[A-Za-z0-9_.\-/]+|[A-Za-z0-9_.\-]+|arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9_.\-/]+)$`)

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
	case dynamo.BaseReadReceipts:
		t.ReadReceipts = name
	case dynamo.BaseConnections:
		t.Connections = name
	case dynamo.BaseRoomConnections:
		t.RoomConnections = name
	case dynamo.BaseUserConnections:
		t.UserConnections = name
	case dynamo.BaseWatermarks:
		t.Watermarks = name
	}
}

// EnvOr returns the variable key, or def when it is empty.
func EnvOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// EnvBool parses the variable key as a boolean; empty is false.
func EnvBool(getenv func(string) string, key string) (bool, error) {
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

// EnvInt parses the variable key as an integer; empty is def.
func EnvInt(getenv func(string) string, key string, def int) (int, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q: not a number", key, v)
	}
	return n, nil
}

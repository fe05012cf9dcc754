package lambdaenv_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
)

func fromEnv(getenv func(string) string) (lambdaenv.Config, error) {
	return lambdaenv.FromEnv(getenv, "X-User-Id")
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := fromEnv(lambdaenvtest.Getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth != "token" || c.PushTimeout != 5*time.Second || c.Tables.Messages != "tripsense-dev-messages" ||
		c.Tables.ReadCursors != "tripsense-dev-readCursors" || c.Tables.RoomConnections != "tripsense-dev-roomConnections" ||
		c.ManagementEndpoint != "" || c.DynamoEndpoint != "" || c.LogLevel.String() != "INFO" || !slices.Equal(c.Admins, []string{"admin"}) {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	type C = lambdaenv.Config
	cases := []struct {
		name    string
		set     map[string]string
		wantErr string // substring; "" means valid
		check   func(C) bool
	}{
		{"table override", map[string]string{"TRIPSENSE_TABLE_MESSAGES": "msgs", "TRIPSENSE_TABLE_USER_ROOM": "members"}, "", func(c C) bool {
			return c.Tables.Messages == "msgs" && c.Tables.UserRoom == "members" && c.Tables.Dedupe == "tripsense-dev-messageDedupe"
		}},
		{"every table without prefix", map[string]string{
			"TRIPSENSE_TABLE_PREFIX": "", "TRIPSENSE_TABLE_MESSAGES": "a", "TRIPSENSE_TABLE_MESSAGE_DEDUPE": "b",
			"TRIPSENSE_TABLE_USER_ROOM": "c", "TRIPSENSE_TABLE_READ_CURSORS": "d", "TRIPSENSE_TABLE_CONNECTIONS": "e",
			"TRIPSENSE_TABLE_ROOM_CONNECTIONS": "f", "TRIPSENSE_TABLE_USER_CONNECTIONS": "g", "TRIPSENSE_TABLE_WATERMARKS": "h",
			"TRIPSENSE_TABLE_READ_RECEIPTS": "i"}, "", func(c C) bool {
			return c.Tables.RoomConnections == "f" && c.Tables.UserConnections == "g" && c.Tables.Watermarks == "h" &&
				c.Tables.ReadReceipts == "i"
		}},
		{"no tables", map[string]string{"TRIPSENSE_TABLE_PREFIX": ""}, "TRIPSENSE_TABLE_PREFIX", nil},
		{"no region", map[string]string{"AWS_REGION": ""}, "AWS_REGION", nil},
		{"short secret", map[string]string{"TRIPSENSE_TOKEN_SECRET": "short"}, "TRIPSENSE_TOKEN_SECRET", nil},
		// What `osls deploy function` delivered when serverless.yml put a
		// CloudFormation dynamic reference in the environment: the public
		// reference itself, long enough for the length check.
		{"secret is a dynamic reference", map[string]string{"TRIPSENSE_TOKEN_SECRET": "{{resolve:ssm:/tripsense/dev/token-secret}}"}, "unresolved reference", nil},
		{"secret is a variable", map[string]string{"TRIPSENSE_TOKEN_SECRET": "${ssm:/tripsense/dev/token-secret-of-the-stage}"}, "unresolved reference", nil},
		{"secret parameter", map[string]string{"TRIPSENSE_TOKEN_SECRET": "", "TRIPSENSE_TOKEN_SECRET_PARAM": "/tripsense/dev/token-secret"}, "", func(c C) bool {
			return c.TokenSecretParam == "/tripsense/dev/token-secret" && c.TokenSecret == ""
		}},
		{"secret parameter by ARN", map[string]string{"TRIPSENSE_TOKEN_SECRET": "", "TRIPSENSE_TOKEN_SECRET_PARAM": "arn:aws:ssm:eu-west-1:123456789012:parameter/tripsense/dev/token-secret"}, "", nil},
		{"secret parameter and secret", map[string]string{"TRIPSENSE_TOKEN_SECRET_PARAM": "/tripsense/dev/token-secret"}, "not both", nil},
		{"secret parameter is a reference", map[string]string{"TRIPSENSE_TOKEN_SECRET": "", "TRIPSENSE_TOKEN_SECRET_PARAM": "{{resolve:ssm:/tripsense/dev/token-secret}}"}, "TRIPSENSE_TOKEN_SECRET_PARAM", nil},
		{"secret parameter is a variable", map[string]string{"TRIPSENSE_TOKEN_SECRET": "", "TRIPSENSE_TOKEN_SECRET_PARAM": "${param:tokenSecretParameter}"}, "want the name of an SSM parameter", nil},
		{"no secret", map[string]string{"TRIPSENSE_TOKEN_SECRET": ""}, "TRIPSENSE_TOKEN_SECRET_PARAM", nil},
		{"dev ignores the secret parameter", map[string]string{"TRIPSENSE_AUTH": "dev", "TRIPSENSE_INSECURE_DEV_IDENTITY": "true", "TRIPSENSE_TOKEN_SECRET": "", "TRIPSENSE_TOKEN_SECRET_PARAM": "/tripsense/dev/token-secret"}, "", nil},
		{"ssm endpoint", map[string]string{"TRIPSENSE_SSM_ENDPOINT": "http://127.0.0.1:9"}, "", func(c C) bool { return c.SSMEndpoint == "http://127.0.0.1:9" }},
		{"bad ssm endpoint", map[string]string{"TRIPSENSE_SSM_ENDPOINT": "127.0.0.1:9"}, "TRIPSENSE_SSM_ENDPOINT", nil},
		{"dev needs the insecure flag", map[string]string{"TRIPSENSE_AUTH": "dev"}, "TRIPSENSE_INSECURE_DEV_IDENTITY", nil},
		{"dev names where the identity comes from", map[string]string{"TRIPSENSE_AUTH": "dev"}, "trusts any X-User-Id:", nil},
		{"dev with flag", map[string]string{"TRIPSENSE_AUTH": "dev", "TRIPSENSE_INSECURE_DEV_IDENTITY": "true", "TRIPSENSE_ADMINS": "boss, ops"}, "", func(c C) bool {
			return c.Auth == "dev" && slices.Equal(c.Admins, []string{"boss", "ops"})
		}},
		{"dev with flag 1", map[string]string{"TRIPSENSE_AUTH": "dev", "TRIPSENSE_INSECURE_DEV_IDENTITY": "1"}, "", func(c C) bool { return c.Admins[0] == "admin" }},
		{"unknown auth", map[string]string{"TRIPSENSE_AUTH": "cognito"}, "TRIPSENSE_AUTH", nil},
		{"bad bool", map[string]string{"TRIPSENSE_INSECURE_DEV_IDENTITY": "yes please"}, "TRIPSENSE_INSECURE_DEV_IDENTITY", nil},
		{"endpoint", map[string]string{"TRIPSENSE_WS_ENDPOINT": "https://ws.example.com"}, "", func(c C) bool { return c.ManagementEndpoint == "https://ws.example.com" }},
		{"bad endpoint", map[string]string{"TRIPSENSE_WS_ENDPOINT": "wss://x"}, "TRIPSENSE_WS_ENDPOINT", nil},
		{"push timeout", map[string]string{"TRIPSENSE_PUSH_TIMEOUT": "2s"}, "", func(c C) bool { return c.PushTimeout == 2*time.Second }},
		{"push timeout out of range", map[string]string{"TRIPSENSE_PUSH_TIMEOUT": "1m"}, "TRIPSENSE_PUSH_TIMEOUT", nil},
		{"bad push timeout", map[string]string{"TRIPSENSE_PUSH_TIMEOUT": "5"}, "want a duration", nil},
		{"log level", map[string]string{"TRIPSENSE_LOG_LEVEL": "debug"}, "", func(c C) bool { return c.LogLevel.String() == "DEBUG" }},
		{"bad log level", map[string]string{"TRIPSENSE_LOG_LEVEL": "chatty"}, "TRIPSENSE_LOG_LEVEL", nil},
		{"allowed origins", map[string]string{"TRIPSENSE_ALLOWED_ORIGINS": "https://App.example.com,http://localhost:5173"}, "", func(c C) bool {
			return c.AllowedOrigins.String() == "https://app.example.com,http://localhost:5173"
		}},
		{"bad allowed origin", map[string]string{"TRIPSENSE_ALLOWED_ORIGINS": "app.example.com"}, "TRIPSENSE_ALLOWED_ORIGINS: allowed origin", nil},
		{"any origin in token mode", map[string]string{"TRIPSENSE_ALLOWED_ORIGINS": "*"}, "", func(c C) bool { return c.AllowedOrigins.Any() }},
		{"any origin in dev mode", map[string]string{"TRIPSENSE_AUTH": "dev", "TRIPSENSE_INSECURE_DEV_IDENTITY": "true", "TRIPSENSE_ALLOWED_ORIGINS": "*"}, "refused in dev identity mode", nil},
	}
	for _, tc := range cases {
		c, err := fromEnv(lambdaenvtest.Getenv(tc.set))
		lambdaenvtest.Expect(t, tc.name, c, err, tc.wantErr, tc.check)
	}
}

func TestEnvHelpers(t *testing.T) {
	t.Parallel()
	getenv := lambdaenvtest.Getenv(map[string]string{"N": "7", "BAD": "x", "B": "true"})
	if n, err := lambdaenv.EnvInt(getenv, "N", 3); n != 7 || err != nil {
		t.Errorf("EnvInt N: %d, %v", n, err)
	}
	if n, err := lambdaenv.EnvInt(getenv, "UNSET", 3); n != 3 || err != nil {
		t.Errorf("EnvInt UNSET: %d, %v", n, err)
	}
	if _, err := lambdaenv.EnvInt(getenv, "BAD", 3); err == nil || err.Error() != `BAD "x": not a number` {
		t.Errorf("EnvInt BAD: %v", err)
	}
	if b, err := lambdaenv.EnvBool(getenv, "B"); !b || err != nil {
		t.Errorf("EnvBool B: %v, %v", b, err)
	}
	if _, err := lambdaenv.EnvBool(getenv, "BAD"); err == nil || err.Error() != `BAD "x": want true or false` {
		t.Errorf("EnvBool BAD: %v", err)
	}
	if v := lambdaenv.EnvOr(getenv, "UNSET", "def"); v != "def" {
		t.Errorf("EnvOr UNSET: %q", v)
	}
}

var envName = regexp.MustCompile(`"((?:TRIPSENSE|AWS)_[A-Z_]+)"`)

// envNames returns the variable names quoted in the non-test Go files of
// dir, sorted.
func envNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envName.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return names
}

// docRow matches a row of the variable table of docs/deploy.md:
// | `NAME` | functions | default | meaning |
var docRow = regexp.MustCompile("(?m)^\\| `((?:TRIPSENSE|AWS)_[A-Z_]+)` \\| ([a-z]+) \\|")

// TestEnvironmentMatchesDocs keeps the two functions' configurations and
// docs/deploy.md from drifting: lambda-api reads only the shared variables
// (this package), lambda-ws reads those and the realtime ones, and the
// table of docs/deploy.md lists every one of them with the functions that
// read it (both, ws).
func TestEnvironmentMatchesDocs(t *testing.T) {
	t.Parallel()
	shared := envNames(t, ".")
	wsOnly := envNames(t, "../../lambda-ws")
	if apiOnly := envNames(t, "../../lambda-api"); len(apiOnly) > 0 {
		t.Errorf("lambda-api reads %v itself: shared variables belong in lambdaenv.Config", apiOnly)
	}
	for _, v := range wsOnly {
		if slices.Contains(shared, v) {
			t.Errorf("lambda-ws reads the shared %s itself", v)
		}
	}
	if want := []string{"TRIPSENSE_DUPLICATE_CONNECTIONS", "TRIPSENSE_FANOUT_BATCH", "TRIPSENSE_FANOUT_PARALLELISM", "TRIPSENSE_FANOUT_QUEUE_URL", "TRIPSENSE_FANOUT_THRESHOLD", "TRIPSENSE_PUSH_ATTEMPTS", "TRIPSENSE_SQS_ENDPOINT"}; !slices.Equal(wsOnly, want) {
		t.Errorf("variables only lambda-ws reads: %v, want %v", wsOnly, want)
	}
	// The fan-out consumer reads the shared variables and the push
	// settings it shares with lambda-ws (documented as ws).
	if got, want := envNames(t, "../../lambda-fanout"), []string{"TRIPSENSE_FANOUT_PARALLELISM", "TRIPSENSE_PUSH_ATTEMPTS"}; !slices.Equal(got, want) {
		t.Errorf("variables lambda-fanout reads itself: %v, want %v", got, want)
	}
	doc, err := os.ReadFile("../../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, m := range docRow.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = m[2]
	}
	check := func(vars []string, functions string) {
		for _, v := range vars {
			switch got, ok := documented[v]; {
			case !ok:
				t.Errorf("docs/deploy.md does not document `%s`", v)
			case got != functions:
				t.Errorf("docs/deploy.md: `%s` is read by %s, not %s", v, functions, got)
			}
			delete(documented, v)
		}
	}
	check(shared, "both")
	check(wsOnly, "ws")
	for v := range documented {
		t.Errorf("docs/deploy.md documents `%s`, which no function reads", v)
	}
}

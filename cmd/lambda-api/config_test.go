package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func baseEnv() map[string]string {
	return map[string]string{
		"AWS_REGION":             "eu-west-1",
		"TRIPSENSE_TABLE_PREFIX": "tripsense-dev-",
		"TRIPSENSE_TOKEN_SECRET": strings.Repeat("k", 32),
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		set     map[string]string
		wantErr string
		check   func(Config) bool
	}{
		{"defaults", nil, "", func(c Config) bool {
			return c.Auth == "token" && c.Tables.ReadCursors == "tripsense-dev-readCursors" && c.PushTimeout.Seconds() == 5
		}},
		{"table override", map[string]string{"TRIPSENSE_TABLE_USER_ROOM": "members"}, "", func(c Config) bool { return c.Tables.UserRoom == "members" }},
		{"no tables", map[string]string{"TRIPSENSE_TABLE_PREFIX": ""}, "TRIPSENSE_TABLE_PREFIX", nil},
		{"no region", map[string]string{"AWS_REGION": ""}, "AWS_REGION", nil},
		{"short secret", map[string]string{"TRIPSENSE_TOKEN_SECRET": "x"}, "TRIPSENSE_TOKEN_SECRET", nil},
		{"dev without flag", map[string]string{"TRIPSENSE_AUTH": "dev"}, "TRIPSENSE_INSECURE_DEV_IDENTITY", nil},
		{"dev", map[string]string{"TRIPSENSE_AUTH": "dev", "TRIPSENSE_INSECURE_DEV_IDENTITY": "1"}, "", func(c Config) bool { return c.Admins[0] == "admin" }},
		{"endpoint", map[string]string{"TRIPSENSE_WS_ENDPOINT": "wss://x"}, "TRIPSENSE_WS_ENDPOINT", nil},
		{"timeout", map[string]string{"TRIPSENSE_PUSH_TIMEOUT": "1m"}, "TRIPSENSE_PUSH_TIMEOUT", nil},
		{"log level", map[string]string{"TRIPSENSE_LOG_LEVEL": "loud"}, "TRIPSENSE_LOG_LEVEL", nil},
	}
	for _, tc := range cases {
		env := baseEnv()
		for k, v := range tc.set {
			env[k] = v
		}
		c, err := configFromEnv(envFunc(env))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: err %v, want one naming %s", tc.name, err, tc.wantErr)
		case tc.check != nil && !tc.check(c):
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
}

var envName = regexp.MustCompile(`"((?:TRIPSENSE|AWS)_[A-Z_]+)"`)

func envNames(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range envName.FindAllStringSubmatch(string(b), -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

// TestEnvironmentMatchesLambdaWS keeps the two functions' configurations
// from drifting: the API reads a subset of lambda-ws's variables (the rest
// are realtime-only), and docs/deploy.md documents every one of them.
func TestEnvironmentMatchesLambdaWS(t *testing.T) {
	t.Parallel()
	apiVars := envNames(t, "config.go")
	wsVars := envNames(t, "../lambda-ws/config.go")
	var wsOnly []string
	for _, v := range wsVars {
		if !slices.Contains(apiVars, v) {
			wsOnly = append(wsOnly, v)
		}
	}
	for _, v := range apiVars {
		if !slices.Contains(wsVars, v) {
			t.Errorf("%s is read by lambda-api but not by lambda-ws", v)
		}
	}
	want := []string{"TRIPSENSE_DUPLICATE_CONNECTIONS", "TRIPSENSE_FANOUT_PARALLELISM", "TRIPSENSE_PUSH_ATTEMPTS"}
	if !slices.Equal(wsOnly, want) {
		t.Errorf("variables only lambda-ws reads: %v, want %v", wsOnly, want)
	}
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range wsVars {
		if !strings.Contains(string(doc), "`"+v+"`") {
			t.Errorf("docs/deploy.md does not document `%s`", v)
		}
	}
}

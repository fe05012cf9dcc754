package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense/ws"
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

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := configFromEnv(envFunc(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth != "token" || c.Policy != ws.Replace || c.FanoutParallelism != 16 || c.PushAttempts != 3 ||
		c.PushTimeout != 5*time.Second || c.Tables.Messages != "tripsense-dev-messages" ||
		c.Tables.RoomConnections != "tripsense-dev-roomConnections" || c.ManagementEndpoint != "" || c.DynamoEndpoint != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		set     map[string]string
		wantErr string // substring; "" means valid
		check   func(Config) bool
	}{
		{"table override", map[string]string{"TRIPSENSE_TABLE_MESSAGES": "msgs"}, "", func(c Config) bool {
			return c.Tables.Messages == "msgs" && c.Tables.UserRoom == "tripsense-dev-userRoom"
		}},
		{"every table without prefix", map[string]string{
			"TRIPSENSE_TABLE_PREFIX": "", "TRIPSENSE_TABLE_MESSAGES": "a", "TRIPSENSE_TABLE_MESSAGE_DEDUPE": "b",
			"TRIPSENSE_TABLE_USER_ROOM": "c", "TRIPSENSE_TABLE_READ_CURSORS": "d", "TRIPSENSE_TABLE_CONNECTIONS": "e",
			"TRIPSENSE_TABLE_ROOM_CONNECTIONS": "f"}, "", func(c Config) bool { return c.Tables.RoomConnections == "f" }},
		{"no tables", map[string]string{"TRIPSENSE_TABLE_PREFIX": ""}, "TRIPSENSE_TABLE_PREFIX", nil},
		{"no region", map[string]string{"AWS_REGION": ""}, "AWS_REGION", nil},
		{"short secret", map[string]string{"TRIPSENSE_TOKEN_SECRET": "short"}, "TRIPSENSE_TOKEN_SECRET", nil},
		{"dev needs the insecure flag", map[string]string{"TRIPSENSE_AUTH": "dev"}, "TRIPSENSE_INSECURE_DEV_IDENTITY", nil},
		{"dev with flag", map[string]string{"TRIPSENSE_AUTH": "dev", "TRIPSENSE_INSECURE_DEV_IDENTITY": "true", "TRIPSENSE_ADMINS": "boss, ops"}, "", func(c Config) bool {
			return c.Auth == "dev" && len(c.Admins) == 2 && c.Admins[1] == "ops"
		}},
		{"unknown auth", map[string]string{"TRIPSENSE_AUTH": "cognito"}, "TRIPSENSE_AUTH", nil},
		{"policy", map[string]string{"TRIPSENSE_DUPLICATE_CONNECTIONS": "refuse"}, "", func(c Config) bool { return c.Policy == ws.Refuse }},
		{"bad policy", map[string]string{"TRIPSENSE_DUPLICATE_CONNECTIONS": "sometimes"}, "TRIPSENSE_DUPLICATE_CONNECTIONS", nil},
		{"endpoint", map[string]string{"TRIPSENSE_WS_ENDPOINT": "https://ws.example.com"}, "", func(c Config) bool { return c.ManagementEndpoint == "https://ws.example.com" }},
		{"bad endpoint", map[string]string{"TRIPSENSE_WS_ENDPOINT": "ws.example.com"}, "TRIPSENSE_WS_ENDPOINT", nil},
		{"fan-out", map[string]string{"TRIPSENSE_FANOUT_PARALLELISM": "32", "TRIPSENSE_PUSH_ATTEMPTS": "5", "TRIPSENSE_PUSH_TIMEOUT": "2s"}, "", func(c Config) bool {
			return c.FanoutParallelism == 32 && c.PushAttempts == 5 && c.PushTimeout == 2*time.Second
		}},
		{"bad numbers", map[string]string{"TRIPSENSE_FANOUT_PARALLELISM": "many", "TRIPSENSE_PUSH_TIMEOUT": "5"}, "TRIPSENSE_PUSH_TIMEOUT", nil},
		{"out of range", map[string]string{"TRIPSENSE_FANOUT_PARALLELISM": "0"}, "TRIPSENSE_FANOUT_PARALLELISM", nil},
		{"bad bool", map[string]string{"TRIPSENSE_INSECURE_DEV_IDENTITY": "yes please"}, "TRIPSENSE_INSECURE_DEV_IDENTITY", nil},
		{"log level", map[string]string{"TRIPSENSE_LOG_LEVEL": "debug"}, "", func(c Config) bool { return c.LogLevel.String() == "DEBUG" }},
		{"bad log level", map[string]string{"TRIPSENSE_LOG_LEVEL": "chatty"}, "TRIPSENSE_LOG_LEVEL", nil},
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

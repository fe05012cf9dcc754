package main

import (
	"testing"
	"time"

	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
	"github.com/tripsense/tripsense/ws"
)

// The shared variables are tested in cmd/internal/lambdaenv, and the
// environment against docs/deploy.md too; these are the realtime ones.

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := configFromEnv(lambdaenvtest.Getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth != "token" || c.Policy != ws.Replace || c.FanoutParallelism != 16 || c.PushAttempts != 3 ||
		c.PushTimeout != 5*time.Second || c.Tables.Messages != "tripsense-dev-messages" {
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
		{"policy", map[string]string{"TRIPSENSE_DUPLICATE_CONNECTIONS": "refuse"}, "", func(c Config) bool { return c.Policy == ws.Refuse }},
		{"bad policy", map[string]string{"TRIPSENSE_DUPLICATE_CONNECTIONS": "sometimes"}, "TRIPSENSE_DUPLICATE_CONNECTIONS", nil},
		{"fan-out", map[string]string{"TRIPSENSE_FANOUT_PARALLELISM": "32", "TRIPSENSE_PUSH_ATTEMPTS": "5", "TRIPSENSE_PUSH_TIMEOUT": "2s"}, "", func(c Config) bool {
			return c.FanoutParallelism == 32 && c.PushAttempts == 5 && c.PushTimeout == 2*time.Second
		}},
		{"bad numbers", map[string]string{"TRIPSENSE_FANOUT_PARALLELISM": "many", "TRIPSENSE_PUSH_TIMEOUT": "5"}, "TRIPSENSE_PUSH_TIMEOUT", nil},
		{"bad number", map[string]string{"TRIPSENSE_PUSH_ATTEMPTS": "few"}, `TRIPSENSE_PUSH_ATTEMPTS "few": not a number`, nil},
		{"out of range", map[string]string{"TRIPSENSE_FANOUT_PARALLELISM": "0"}, "TRIPSENSE_FANOUT_PARALLELISM", nil},
		{"attempts out of range", map[string]string{"TRIPSENSE_PUSH_ATTEMPTS": "11"}, "TRIPSENSE_PUSH_ATTEMPTS must be 1-10", nil},
		{"shared checks too", map[string]string{"AWS_REGION": ""}, "AWS_REGION", nil},
		{"dev names ?userId=", map[string]string{"TRIPSENSE_AUTH": "dev"}, "trusts any ?userId=:", nil},
	}
	for _, tc := range cases {
		c, err := configFromEnv(lambdaenvtest.Getenv(tc.set))
		lambdaenvtest.Expect(t, tc.name, c, err, tc.wantErr, tc.check)
	}
}

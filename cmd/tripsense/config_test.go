package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestServeConfig(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"defaults", nil, nil, ""},
		{"env address", nil, map[string]string{"TRIPSENSE_ADDR": "[::1]:9000"}, ""},
		{"dev mode refuses a public address", []string{"--addr", "0.0.0.0:8080"}, nil, "only on loopback"},
		{"dev mode on a public address when insecure is said", []string{"--addr", "0.0.0.0:8080", "--insecure-dev-identity"}, nil, ""},
		{"token mode needs a secret", []string{"--auth", "token"}, nil, "TRIPSENSE_TOKEN_SECRET"},
		{"token mode short secret", []string{"--auth", "token"}, map[string]string{"TRIPSENSE_TOKEN_SECRET": "short"}, "TRIPSENSE_TOKEN_SECRET"},
		{"token mode on a public address", []string{"--auth", "token", "--addr", "0.0.0.0:8080"}, map[string]string{"TRIPSENSE_TOKEN_SECRET": secret}, ""},
		{"unknown auth", []string{"--auth", "magic"}, nil, "want dev or token"},
		{"bad policy", []string{"--duplicate-connections", "sometimes"}, nil, "refuse, replace or allow"},
		{"policy from env", nil, map[string]string{"TRIPSENSE_DUPLICATE_CONNECTIONS": "refuse"}, ""},
		{"bad address", []string{"--addr", "nope"}, nil, "--addr"},
		{"stray argument", []string{"extra"}, nil, "usage"},
		{"timeouts from flags", []string{"--read-timeout", "5s", "--header-timeout", "2s", "--write-timeout", "1m", "--idle-timeout", "30s"}, nil, ""},
		{"timeouts from env", nil, map[string]string{"TRIPSENSE_READ_TIMEOUT": "5s", "TRIPSENSE_WRITE_TIMEOUT": "2m"}, ""},
		{"zero write timeout", []string{"--write-timeout", "0s"}, nil, "must be positive"},
		{"write timeout under read timeout", []string{"--write-timeout", "10s"}, nil, "shorter than --read-timeout"},
		{"negative connection cap", []string{"--max-connections", "-1"}, nil, "must not be negative"},
		{"per-IP cap off", []string{"--max-connections-per-ip", "0"}, nil, ""},
		{"negative connect rate", []string{"--connect-rate", "-1"}, nil, "--connect-rate (TRIPSENSE_CONNECT_RATE) must not be negative"},
		{"negative http rate", nil, map[string]string{"TRIPSENSE_HTTP_RATE": "-5"}, "must not be negative"},
		{"connect rate from env", nil, map[string]string{"TRIPSENSE_CONNECT_RATE": "30"}, ""},
		{"zero token ttl", []string{"--max-token-ttl", "0s"}, nil, "--max-token-ttl"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		c, err := parseServeConfig(tc.args, env(tc.env), &stderr)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.wantErr)
		}
		if tc.name == "defaults" && (c.Addr != "127.0.0.1:8080" || c.DataDir != "./data" || c.Auth != "dev" || c.Policy != "replace" || !c.Demo || len(c.Admins) != 1 ||
			c.HeaderTimeout != 10*time.Second || c.ReadTimeout != 30*time.Second || c.WriteTimeout != time.Minute || c.IdleTimeout != 2*time.Minute ||
			c.ConnLimit != 0 || c.ConnLimitPerIP != 256 || c.MaxTokenTTL != 24*time.Hour || c.HTTPRate != 600 || c.ConnectRate != 600) {
			t.Errorf("defaults: %+v", c)
		}
		if tc.name == "connect rate from env" && c.ConnectRate != 30 {
			t.Errorf("connect rate from env: %d, want 30", c.ConnectRate)
		}
		if tc.name == "timeouts from env" && (c.ReadTimeout != 5*time.Second || c.HeaderTimeout != 5*time.Second || c.WriteTimeout != 2*time.Minute) {
			t.Errorf("timeouts from env: %+v", c)
		}
	}
}

func TestTokenSubcommand(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"token", "--user", "uuid1", "--ttl", "1h"}, env(map[string]string{"TRIPSENSE_TOKEN_SECRET": strings.Repeat("k", 40)}), &out, &errOut)
	if code != 0 || strings.Count(out.String(), ".") != 2 {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
	if code := run(context.Background(), []string{"token", "--user", "uuid1", "--ttl", "25h"}, env(map[string]string{"TRIPSENSE_TOKEN_SECRET": strings.Repeat("k", 40)}), &out, &errOut); code == 0 {
		t.Fatal("a token over the default maximum lifetime was minted")
	}
	if code := run(context.Background(), []string{"token", "--user", "uuid1", "--ttl", "25h"}, env(map[string]string{"TRIPSENSE_TOKEN_SECRET": strings.Repeat("k", 40), "TRIPSENSE_MAX_TOKEN_TTL": "48h"}), &out, &errOut); code != 0 {
		t.Fatalf("TRIPSENSE_MAX_TOKEN_TTL=48h: exit %d, %s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"token", "--user", "uuid1"}, env(nil), &out, &errOut); code == 0 {
		t.Fatal("token without a secret succeeded")
	}
	if code := run(context.Background(), []string{"frobnicate"}, env(nil), &out, &errOut); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

func TestLoopbackHostOnly(t *testing.T) {
	t.Parallel()
	h := loopbackHostOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }), devHostMessage)
	for host, want := range map[string]int{
		"localhost:8080": 204, "127.0.0.1:8080": 204, "[::1]:8080": 204, "localhost": 204,
		"evil.example": 403, "evil.example:8080": 403, "10.0.0.1:8080": 403, "": 403,
	} {
		req := httptest.NewRequest("GET", "/v1/rooms", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
}

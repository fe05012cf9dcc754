package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestAllowedOriginsConfig: --allowed-origins and TRIPSENSE_ALLOWED_ORIGINS
// parse into the one origin rule; malformed entries and "*" in dev
// identity mode are refused with a clear error.
func TestAllowedOriginsConfig(t *testing.T) {
	t.Parallel()
	secret := map[string]string{"TRIPSENSE_TOKEN_SECRET": strings.Repeat("s", 32)}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string // the parsed list, when no error
		wantErr string
	}{
		{"default", nil, nil, "", ""},
		{"flag", []string{"--allowed-origins", "https://app.example.com, http://localhost:5173"}, nil, "https://app.example.com,http://localhost:5173", ""},
		{"env", nil, map[string]string{"TRIPSENSE_ALLOWED_ORIGINS": "https://App.example.com"}, "https://app.example.com", ""},
		{"flag wins", []string{"--allowed-origins", "https://a.example"}, map[string]string{"TRIPSENSE_ALLOWED_ORIGINS": "https://b.example"}, "https://a.example", ""},
		{"path", []string{"--allowed-origins", "https://app.example.com/"}, nil, "", `--allowed-origins (TRIPSENSE_ALLOWED_ORIGINS): allowed origin "https://app.example.com/"`},
		{"no scheme", []string{"--allowed-origins", "app.example.com"}, nil, "", "scheme must be http or https"},
		{"star in dev mode", []string{"--allowed-origins", "*"}, nil, "", "refused in dev identity mode"},
		{"star in token mode", []string{"--auth", "token", "--allowed-origins", "*"}, secret, "*", ""},
	} {
		var stderr bytes.Buffer
		c, err := parseServeConfig(tc.args, env(tc.env), &stderr)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.wantErr)
		case tc.wantErr == "" && c.AllowedOrigins.String() != tc.want:
			t.Errorf("%s: origins %q, want %q", tc.name, c.AllowedOrigins.String(), tc.want)
		}
	}
}

package api_test

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	catchup "github.com/tripsense/tripsense/sync"
)

// logRecords returns the JSON log records with level.
func logRecords(t *testing.T, logs string, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec["level"] == level {
			out = append(out, rec)
		}
	}
	return out
}

func TestInternalErrorsAreLoggedOnceWithRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, body, user string
		logged                         string // text the log must hold
	}{
		{"store error", "DELETE", "/v1/rooms/uuidroom1/members/broken", "", "admin", "secret-detail"},
		{"unknown code", "POST", "/v1/rooms/uuidroom1/members", `{"userId":"weird"}`, "admin", "no_such_code"},
		{"panic", "POST", "/v1/rooms/uuidroom1/members", `{"userId":"panic"}`, "admin", "goroutine"},
		{"authenticator", "GET", "/v1/rooms", "", "authdown", "secret-detail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := MustServer(t, nil)
			res := f.MustDo(t, tt.method, tt.path, tt.body, u1, tt.user, jsonT, appJS)
			if res.status != 500 {
				t.Fatalf("status %d", res.status)
			}
			if _, msg, _ := errorOf(res.body); msg != "internal error" {
				t.Fatalf("message %q", msg)
			}
			recs := logRecords(t, f.logs.String(), "ERROR")
			if len(recs) != 1 {
				t.Fatalf("%d error records: %s", len(recs), f.logs.String())
			}
			rec := recs[0]
			if rec["request_id"] != res.header.Get("X-Request-Id") || rec["method"] != tt.method || rec["status"] != float64(500) {
				t.Fatalf("record %v, response id %s", rec, res.header.Get("X-Request-Id"))
			}
			if line, _ := json.Marshal(rec); !strings.Contains(string(line), tt.logged) {
				t.Fatalf("record lacks %q: %s", tt.logged, line)
			}
		})
	}
}

func TestClientErrorsAreNotLoggedAsErrors(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	f.MustDo(t, "GET", "/v1/rooms/uuidroom3/messages", "", u1, "uuid1")
	f.MustDo(t, "GET", "/v1/sync?limit=0", "", u1, "uuid1")
	f.MustDo(t, "GET", "/v1/sync", "")
	if recs := logRecords(t, f.logs.String(), "ERROR"); len(recs) != 0 {
		t.Fatalf("error records for client errors: %v", recs)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	ready := false
	tests := []struct {
		ready  func() bool
		status int
		body   string
	}{
		{nil, 200, "{\"status\":\"ok\"}\n"},
		{func() bool { return true }, 200, "{\"status\":\"ok\"}\n"},
		{func() bool { return ready }, 503, "{\"status\":\"unavailable\"}\n"},
	}
	for _, tt := range tests {
		f := MustServer(t, tt.ready)
		res := f.MustDo(t, "GET", "/healthz", "")
		if res.status != tt.status || string(res.body) != tt.body || res.header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d body %q, want %d %q", res.status, res.body, tt.status, tt.body)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	svc := &catchup.Service{}
	ok := api.Config{Sync: svc, Members: members{}, Reads: reads{}, Auth: fakeAuth{}}
	tests := []struct {
		name  string
		edit  func(*api.Config)
		valid bool
	}{
		{"complete", func(*api.Config) {}, true},
		{"no sync", func(c *api.Config) { c.Sync = nil }, false},
		{"no members", func(c *api.Config) { c.Members = nil }, false},
		{"no reads", func(c *api.Config) { c.Reads = nil }, false},
		{"no auth", func(c *api.Config) { c.Auth = nil }, false},
		{"negative body cap", func(c *api.Config) { c.MaxBodyBytes = -1 }, false},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		if err := c.Validate(); (err == nil) != tt.valid {
			t.Fatalf("%s: Validate() = %v", tt.name, err)
		}
		func() {
			defer func() {
				if p := recover(); (p == nil) != tt.valid {
					t.Fatalf("%s: New panicked with %v", tt.name, p)
				}
			}()
			api.New(c)
		}()
	}
}

// TestEveryCodeHasAStatus drives each tripsense code through a route and
// checks the status the table gives it.
func TestEveryCodeHasAStatus(t *testing.T) {
	t.Parallel()
	want := map[string]int{
		tripsense.EINVALID: 400, tripsense.EUNKNOWNACTION: 400, tripsense.EUNAUTHORIZED: 401,
		tripsense.EFORBIDDEN: 403, tripsense.ENOTMEMBER: 403, tripsense.ENOTFOUND: 404,
		tripsense.ECONFLICT: 409, tripsense.EGONE: 410, tripsense.ETOOLARGE: 413,
		tripsense.EUNPROCESSABLE: 422, tripsense.ERATELIMITED: 429, tripsense.EINTERNAL: 500,
	}
	for code, status := range want {
		f := MustServer(t, nil)
		h := api.New(api.Config{Sync: failingSync{tripsense.Errorf(code, "m")}, Members: members{f.st}, Reads: reads{f.st}, Auth: fakeAuth{}})
		rec := serve(h, "GET", "/v1/rooms", "uuid1")
		if rec.Code != status {
			t.Errorf("code %s: status %d, want %d", code, rec.Code, status)
		}
		if got, _, ok := errorOf(rec.Body.Bytes()); !ok || got != code {
			t.Errorf("code %s: body %s", code, rec.Body.Bytes())
		}
	}
}

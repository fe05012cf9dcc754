package api_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
)

// corsServer is the API over a memory store (uuid1 in uuidroom1) with the
// allowed origins of list.
func corsServer(t *testing.T, list string, rate int) *fixture {
	t.Helper()
	origins, err := tripsense.ParseOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	_ = st.AddMember(t.Context(), "uuidroom1", "uuid1")
	h := api.New(api.Config{
		Sync: &catchup.Service{Store: st}, Members: members{st}, Reads: reads{st}, Auth: fakeAuth{},
		AllowedOrigins: origins, RatePerMinute: rate,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{st: st, srv: srv}
}

func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// TestCORSPreflight: a preflight from an allowed origin is answered 204
// with the origin, the method, Authorization and Content-Type, a max-age,
// no credentials and Vary: Origin, before identity and rate limits; one
// from another origin gets none of it, so the browser refuses.
func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	f := corsServer(t, "https://app.example.com,http://localhost:5173", 1)
	for _, path := range []string{"/v1/rooms", "/v1/rooms/uuidroom1/cursor", "/v1/rooms/uuidroom1/members"} {
		for _, method := range []string{"GET", "PUT", "POST", "DELETE"} {
			r := f.MustDo(t, "OPTIONS", path, "",
				"Origin", "https://app.example.com",
				"Access-Control-Request-Method", method,
				"Access-Control-Request-Headers", "authorization,content-type")
			h := r.header
			if r.status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
				!hasToken(h, "Access-Control-Allow-Methods", method) ||
				!hasToken(h, "Access-Control-Allow-Headers", "authorization") || !hasToken(h, "Access-Control-Allow-Headers", "content-type") ||
				h.Get("Access-Control-Max-Age") != "600" || h.Get("Access-Control-Allow-Credentials") != "" ||
				!hasToken(h, "Vary", "Origin") {
				t.Fatalf("preflight %s %s: %d %v", method, path, r.status, h)
			}
		}
	}
	// The rate limit (1 a minute) and identity never saw the preflights:
	// the first real request still passes.
	if r := f.MustDo(t, "GET", "/v1/rooms", "", "X-User-Id", "uuid1", "Origin", "https://app.example.com"); r.status != 200 {
		t.Fatalf("first request after preflights: %d %s", r.status, r.body)
	}
	for _, tc := range [][]string{
		{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"},
		{"Origin", "http://app.example.com", "Access-Control-Request-Method", "GET"},
		{"Origin", "https://app.example.com", "Access-Control-Request-Method", "PATCH"},
		{"Origin", "https://app.example.com", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-secret"},
	} {
		r := f.MustDo(t, "OPTIONS", "/v1/rooms", "", tc...)
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight %v granted: %v", tc, r.header)
		}
	}
}

// TestCORSActualRequests: answers to an allowed origin, errors included,
// carry Access-Control-Allow-Origin, the exposed headers and Vary: Origin;
// other origins get no CORS headers (the browser hides the answer);
// same-origin and non-browser requests work as before.
func TestCORSActualRequests(t *testing.T) {
	t.Parallel()
	f := corsServer(t, "https://app.example.com", 0)
	for _, tc := range []struct {
		hdr    []string
		status int
	}{
		{[]string{"X-User-Id", "uuid1"}, 200},
		{[]string{"Authorization", "Bearer bad"}, 401},
		{nil, 401},
	} {
		r := f.MustDo(t, "GET", "/v1/rooms", "", append(tc.hdr, "Origin", "https://app.example.com")...)
		h := r.header
		if r.status != tc.status || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!hasToken(h, "Access-Control-Expose-Headers", "X-Request-Id") || !hasToken(h, "Access-Control-Expose-Headers", "Retry-After") ||
			!hasToken(h, "Vary", "Origin") || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%v: %d %v", tc.hdr, r.status, h)
		}
	}
	r := f.MustDo(t, "PUT", "/v1/rooms/uuidroom1/cursor", `{"lastRead":0}`, "X-User-Id", "uuid1", "Content-Type", "application/json", "Origin", "https://app.example.com")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("PUT cursor: %d %v %s", r.status, r.header, r.body)
	}
	r = f.MustDo(t, "GET", "/v1/rooms", "", "X-User-Id", "uuid1", "Origin", "https://evil.example")
	if r.header.Get("Access-Control-Allow-Origin") != "" || !hasToken(r.header, "Vary", "Origin") {
		t.Errorf("foreign origin: %v", r.header)
	}
	r = f.MustDo(t, "GET", "/v1/rooms", "", "X-User-Id", "uuid1")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no origin: %d %v", r.status, r.header)
	}
	// A non-preflight OPTIONS is still the router's 405.
	if r := f.MustDo(t, "OPTIONS", "/v1/rooms", "", "Origin", "https://app.example.com"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("plain OPTIONS: %d", r.status)
	}
}

// TestCORSAnyOrigin: "*" answers every origin with *, never with
// credentials.
func TestCORSAnyOrigin(t *testing.T) {
	t.Parallel()
	f := corsServer(t, "*", 0)
	r := f.MustDo(t, "OPTIONS", "/v1/sync", "", "Origin", "https://anyone.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
	r = f.MustDo(t, "GET", "/v1/rooms", "", "X-User-Id", "uuid1", "Origin", "https://anyone.example")
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET: %v", r.header)
	}
}

// TestNoCORSWithoutAllowedOrigins: the default answers no cross-origin
// request: a preflight is the router's 405 and no answer carries CORS
// headers.
func TestNoCORSWithoutAllowedOrigins(t *testing.T) {
	t.Parallel()
	f := corsServer(t, "", 0)
	r := f.MustDo(t, "OPTIONS", "/v1/rooms", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET")
	if r.status != http.StatusMethodNotAllowed || slices.ContainsFunc([]string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods"}, func(k string) bool { return r.header.Get(k) != "" }) {
		t.Fatalf("preflight without allowed origins: %d %v", r.status, r.header)
	}
}

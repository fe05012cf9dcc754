package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
)

func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	st := memory.New()
	h := api.New(api.Config{Sync: &catchup.Service{Store: st}, Members: members{st}, Reads: reads{st}, Auth: fakeAuth{}, RatePerMinute: 3})
	do := func(remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/rooms", nil)
		req.Header.Set("X-User-Id", "uuid1")
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		if rec := do("127.0.0.1:1000"); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := do("127.0.0.1:1001")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d, want 429", rec.Code)
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "rate_limited" {
		t.Fatalf("429 body %s: %v", rec.Body, err)
	}
	// Another client is not affected, and health checks are never limited.
	if rec := do("127.0.0.2:1000"); rec.Code != http.StatusOK {
		t.Fatalf("other client: %d", rec.Code)
	}
	hz := httptest.NewRecorder()
	hreq := httptest.NewRequest("GET", "/healthz", nil)
	hreq.RemoteAddr = "127.0.0.1:1000"
	h.ServeHTTP(hz, hreq)
	if hz.Code != http.StatusOK {
		t.Fatalf("healthz: %d", hz.Code)
	}
}

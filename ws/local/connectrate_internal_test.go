package local

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestConnectRateIsPerAddress: the connect rate counts the upgrades of each
// client address apart (an IPv6 address by its /64), refuses one over it
// with the limiter's Retry-After, and counts the refusal; 0 bounds nothing.
func TestConnectRateIsPerAddress(t *testing.T) {
	t.Parallel()
	limited := 0
	s := &Server{ConnectRate: 2, OnConnectLimited: func() { limited++ }}
	try := func(remote string) (bool, http.Header) {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		return s.allowConnect(w, r), w.Header()
	}
	for i := range 2 {
		if ok, _ := try("127.0.0.1:4000"); !ok {
			t.Fatalf("upgrade %d of 127.0.0.1 refused under a rate of 2", i+1)
		}
	}
	ok, h := try("127.0.0.1:4001") // another port of the same address
	if ok || h.Get("Retry-After") != "60" || h.Get("X-RateLimit-Limit") != "2" {
		t.Fatalf("third upgrade of 127.0.0.1: allowed %v, headers %v; want refused with Retry-After 60", ok, h)
	}
	if limited != 1 {
		t.Fatalf("refusals counted: %d, want 1", limited)
	}
	for _, remote := range []string{"[::1]:4000", "[::1]:4001"} {
		if ok, _ := try(remote); !ok {
			t.Fatalf("%s refused: its address has its own window", remote)
		}
	}
	if ok, _ := try("[::1]:4002"); ok {
		t.Fatal("a third upgrade of ::1 allowed")
	}
	// One IPv6 host may use any address of its /64: they share a window.
	for _, remote := range []string{"[2001:db8:1:2::1]:4000", "[2001:db8:1:2::2]:4000"} {
		if ok, _ := try(remote); !ok {
			t.Fatalf("%s refused", remote)
		}
	}
	if ok, _ := try("[2001:db8:1:2:ffff:ffff:ffff:ffff]:4000"); ok {
		t.Fatal("a third upgrade from the same /64 allowed")
	}
	if ok, _ := try("[2001:db8:1:3::1]:4000"); !ok {
		t.Fatal("another /64 refused")
	}
	off := &Server{}
	for range 5 {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		if !off.allowConnect(httptest.NewRecorder(), r) {
			t.Fatal("ConnectRate 0 refused an upgrade")
		}
	}
}

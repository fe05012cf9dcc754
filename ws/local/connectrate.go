package local

import (
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/httprate"

	"github.com/tripsense/tripsense"
)

// connectLimit bounds the WebSocket upgrades of one client address per
// minute (Server.ConnectRate). Each upgrade costs the server an identity
// check, the user's rooms and cursors read from the store, a presence
// registration, and at its end a cursor write; the per-address connection
// cap bounds how many are open at once, this bounds how fast one address
// may open and close them. It is the HTTP API's limiter (go-chi/httprate,
// a sliding window per key, with its X-RateLimit-* and Retry-After
// headers), keyed by the client's address (an IPv6 address by its /64).
type connectLimit struct {
	once    sync.Once
	limiter *httprate.RateLimiter
}

// allow reports whether r's address may open one more connection now; when
// not, w carries the limiter's headers (X-RateLimit-*, and Retry-After:
// the window). An upgrade let through gets none of them: they would stay
// on a later refusal of another kind (401, 409, the per-user 429).
func (s *Server) allowConnect(w http.ResponseWriter, r *http.Request) bool {
	if s.ConnectRate <= 0 {
		return true
	}
	l := &s.connects
	l.once.Do(func() { l.limiter = httprate.NewRateLimiter(s.ConnectRate, time.Minute) })
	key, err := httprate.KeyByIP(r)
	if err != nil {
		return true // no address to key by (not a TCP client): nothing to bound
	}
	var headers headerOnly
	if !l.limiter.OnLimit(&headers, r, key) {
		return true
	}
	for k, v := range headers.h {
		w.Header()[k] = v
	}
	if s.OnConnectLimited != nil {
		s.OnConnectLimited()
	}
	return false
}

// headerOnly is the ResponseWriter httprate's OnLimit writes its headers
// to (it writes nothing else with the in-memory counter).
type headerOnly struct{ h http.Header }

func (w *headerOnly) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerOnly) WriteHeader(int)             {}

// ConnectRateReason marks the message of a refusal over
// Server.ConnectRate (cmd/tripsense counts those refusals instead of
// logging each).
const ConnectRateReason = "(--connect-rate)"

// connectRateError is the refusal of an upgrade over Server.ConnectRate.
func connectRateError(perMinute int) error {
	return tripsense.Errorf(tripsense.ERATELIMITED, "too many connections opened from your address: at most %d a minute "+ConnectRateReason, perMinute)
}

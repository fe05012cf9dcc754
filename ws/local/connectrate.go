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
// not, w already carries the limiter's headers (Retry-After: the window).
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
	if l.limiter.OnLimit(w, r, key) {
		if s.OnConnectLimited != nil {
			s.OnConnectLimited()
		}
		return false
	}
	return true
}

// connectRateError is the refusal of an upgrade over Server.ConnectRate.
func connectRateError(perMinute int) error {
	return tripsense.Errorf(tripsense.ERATELIMITED, "too many connections opened from your address: at most %d a minute (--connect-rate)", perMinute)
}

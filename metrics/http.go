package metrics

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"time"
)

// Route names a request's route for metrics, from the fixed list of the
// API's routes (api/api.go), so that the label's values stay bounded
// whatever paths clients send; anything else is "other".
func Route(r *http.Request) string {
	p := r.URL.Path
	switch p {
	case "/ws", "/healthz", "/readyz", "/metrics", "/v1/sync", "/v1/rooms", "/v1/admin/backup", "/v1/webhooks", "/v1/webhooks/replay":
		return p
	}
	if rest, ok := strings.CutPrefix(p, "/v1/users/"); ok && rest != "" && !strings.Contains(rest, "/") {
		return "/v1/users/{userId}"
	}
	if rest, ok := strings.CutPrefix(p, "/v1/rooms/"); ok && rest != "" {
		parts := strings.Split(rest, "/")
		switch {
		case len(parts) == 1:
			return "/v1/rooms/{room}"
		case len(parts) == 2 && (parts[1] == "messages" || parts[1] == "cursor" || parts[1] == "receipts" || parts[1] == "members"):
			return "/v1/rooms/{room}/" + parts[1]
		case len(parts) == 3 && parts[1] == "members" && parts[2] != "":
			return "/v1/rooms/{room}/members/{userId}"
		}
	}
	return "other"
}

// HTTP returns next with every request counted by route and status and
// timed (http_requests_total, http_request_seconds), and 429 answers
// counted as refusals of the http budget. It is the instrumentation of
// the HTTP API on AWS (cmd/lambda-api); the single binary's
// cmd/tripsense does the same in its own middleware, which also logs
// refused WebSocket upgrades.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &codeWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		code := sw.code
		if sw.hijacked {
			code = http.StatusSwitchingProtocols
		} else if code == 0 {
			code = http.StatusOK
		}
		m.ObserveHTTP(Route(r), code, time.Since(start))
		if code == http.StatusTooManyRequests {
			m.HTTPRateLimited()
		}
	})
}

// codeWriter records the status; it passes Flush, Hijack and Unwrap on.
type codeWriter struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (c *codeWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

func (c *codeWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *codeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := c.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	conn, rw, err := h.Hijack()
	if err == nil {
		c.hijacked = true
	}
	return conn, rw, err
}

func (c *codeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

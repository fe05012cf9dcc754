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
		sw := &StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		code := sw.Code()
		m.ObserveHTTP(Route(r), code, time.Since(start))
		if code == http.StatusTooManyRequests {
			m.HTTPRateLimited()
		}
	})
}

// StatusWriter records the status of an answer and, with KeepErrorBody,
// the first 512 bytes of an error answer (Body); it passes Flush, Hijack
// (the WebSocket upgrade) and Unwrap on. Both HTTP instrumentations use
// it: Metrics.HTTP and the single binary's middleware, which logs refused
// upgrades with their reason.
type StatusWriter struct {
	http.ResponseWriter
	KeepErrorBody bool
	Body          []byte

	status   int
	hijacked bool
}

// Code is the answer's status: 101 for a hijacked (upgraded) connection,
// 200 when the handler wrote nothing.
func (s *StatusWriter) Code() int {
	switch {
	case s.hijacked:
		return http.StatusSwitchingProtocols
	case s.status == 0:
		return http.StatusOK
	}
	return s.status
}

func (s *StatusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.KeepErrorBody && s.status >= 400 && len(s.Body) < 512 {
		s.Body = append(s.Body, b[:min(len(b), 512-len(s.Body))]...)
	}
	return s.ResponseWriter.Write(b)
}

func (s *StatusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *StatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := h.Hijack()
	if err == nil {
		s.hijacked = true
	}
	return c, rw, err
}

func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

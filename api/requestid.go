package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
)

// maxRequestIDLen bounds a client's request id.
const maxRequestIDLen = 64

// validRequestID reports whether a client's X-Request-Id may be taken and
// echoed: 1-64 characters of [A-Za-z0-9._:/+=-] (no spaces, quotes or
// control characters, so it cannot forge a log line or a header).
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '/' || c == '+' || c == '=' || c == '-':
		default:
			return false
		}
	}
	return true
}

// requestID is chi's middleware.RequestID with the client's id checked: a
// valid X-Request-Id is kept (one proxy's id follows the request through
// the logs), anything else is replaced by a generated one.
func requestID(next http.Handler) http.Handler {
	gen := middleware.RequestID(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ids := r.Header.Values(middleware.RequestIDHeader); len(ids) == 1 && validRequestID(ids[0]) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), middleware.RequestIDKey, ids[0])))
			return
		}
		r.Header.Del(middleware.RequestIDHeader)
		gen.ServeHTTP(w, r)
	})
}

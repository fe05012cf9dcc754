package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/tripsense/tripsense"
)

// reqInfo is filled in by inner middleware and read by observe's log
// record, which runs outside them.
type reqInfo struct {
	user string
}

type reqInfoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return info
}

// observe echoes the request id in X-Request-Id, turns a panic into a
// logged 500 JSON error and writes a debug record per request.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		ww.Header().Set(middleware.RequestIDHeader, middleware.GetReqID(r.Context()))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", requestAttrs(r, http.StatusInternalServerError,
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))...)
				if ww.Status() == 0 {
					writeJSON(ww, http.StatusInternalServerError,
						errorBody{Error: errorDetail{Code: tripsense.EINTERNAL, Message: "internal error"}})
				}
			}
			s.log.DebugContext(r.Context(), "request", requestAttrs(r, ww.Status(),
				slog.Int("bytes", ww.BytesWritten()), slog.Duration("duration", time.Since(start)))...)
		}()
		next.ServeHTTP(ww, r)
	})
}

// identify is the one place identity enters a request: it reads
// tripsense.Credentials (user id from X-User-Id or ?userId=, token from
// "Authorization: Bearer"), asks the Authenticator and puts the Principal
// into the context. Anything unproven is 401.
func (s *server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		creds, err := credentials(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p, err := s.auth.Authenticate(r.Context(), creds)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if p.UserID == "" {
			s.writeError(w, r, fmt.Errorf("api: authenticator returned no user id"))
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			info.user = p.UserID
		}
		next.ServeHTTP(w, r.WithContext(tripsense.WithPrincipal(r.Context(), p)))
	})
}

func unauthorized(msg string) error { return tripsense.Errorf(tripsense.EUNAUTHORIZED, "%s", msg) }

// credentials reads what the client presented. Ambiguity is refused: the
// header twice, ?userId= twice, header and query naming different users, or
// an Authorization header that is not a single bearer token.
func credentials(r *http.Request) (tripsense.Credentials, error) {
	var c tripsense.Credentials
	hdr := r.Header.Values("X-User-Id")
	if len(hdr) > 1 {
		return c, unauthorized("X-User-Id given more than once")
	}
	q := r.URL.Query()["userId"]
	if len(q) > 1 {
		return c, unauthorized("userId given more than once")
	}
	switch {
	case len(hdr) == 1 && len(q) == 1 && hdr[0] != q[0]:
		return c, unauthorized("X-User-Id and ?userId= name different users")
	case len(hdr) == 1:
		c.UserID = hdr[0]
	case len(q) == 1:
		c.UserID = q[0]
	}
	authz := r.Header.Values("Authorization")
	switch {
	case len(authz) > 1:
		return c, unauthorized("Authorization given more than once")
	case len(authz) == 1:
		scheme, token, ok := strings.Cut(authz[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
			return c, unauthorized("Authorization must be \"Bearer <token>\"")
		}
		c.Token = token
	}
	return c, nil
}

// adminOnly refuses callers whose principal is not an admin (403).
func (s *server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := tripsense.PrincipalFrom(r.Context()); !ok || !p.Admin {
			s.writeError(w, r, tripsense.Errorf(tripsense.EFORBIDDEN, "only admins may change room membership"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

package api

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/tripsense/tripsense"
)

// Codes only the HTTP API uses, next to the tripsense.E* codes.
const (
	codeMethodNotAllowed     = "method_not_allowed"
	codeUnsupportedMediaType = "unsupported_media_type"
)

// statusOf returns the status of code: the two HTTP-only codes of this
// package, else tripsense.HTTPStatus (the one table); unknown codes are
// internal errors.
func statusOf(code string) (int, bool) {
	switch code {
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed, true
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType, true
	}
	return tripsense.HTTPStatus(code)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with err's status and {"error":{"code","message"}}.
// Internal errors (and errors with a code the table does not know) are
// logged here, once, with the request id, and shown as "internal error".
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tripsense.ErrorCode(err)
	msg := tripsense.ErrorMessage(err)
	status, known := statusOf(code)
	if status >= http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "request failed", requestAttrs(r, status, slog.Any("error", err))...)
		if !known {
			code, msg = tripsense.EINTERNAL, "internal error"
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tripsense"`)
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// requestAttrs returns the attributes every log record of a request has.
func requestAttrs(r *http.Request, status int, extra ...any) []any {
	attrs := []any{
		slog.String("request_id", middleware.GetReqID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
	}
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		attrs = append(attrs, slog.String("route", rc.RoutePattern()))
	}
	if info := infoFrom(r.Context()); info != nil && info.user != "" {
		attrs = append(attrs, slog.String("user", info.user))
	}
	return append(attrs, extra...)
}

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

// statusByCode is the one table from error codes to HTTP statuses.
var statusByCode = map[string]int{
	tripsense.EINVALID:       http.StatusBadRequest,
	tripsense.EUNKNOWNACTION: http.StatusBadRequest,
	tripsense.EUNAUTHORIZED:  http.StatusUnauthorized,
	tripsense.EFORBIDDEN:     http.StatusForbidden,
	tripsense.ENOTMEMBER:     http.StatusForbidden,
	tripsense.ENOTFOUND:      http.StatusNotFound,
	codeMethodNotAllowed:     http.StatusMethodNotAllowed,
	tripsense.ECONFLICT:      http.StatusConflict,
	tripsense.EGONE:          http.StatusGone,
	tripsense.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	codeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	tripsense.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	tripsense.ERATELIMITED:   http.StatusTooManyRequests,
	tripsense.EINTERNAL:      http.StatusInternalServerError,
}

// statusOf returns the status of code; unknown codes are internal errors.
func statusOf(code string) (int, bool) {
	st, ok := statusByCode[code]
	if !ok {
		return http.StatusInternalServerError, false
	}
	return st, true
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

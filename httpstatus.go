package tripsense

import "net/http"

// statusByCode is the one table from error codes to HTTP statuses. The HTTP
// API answers with it, and both WebSocket runtimes refuse an upgrade or a
// $connect with it.
var statusByCode = map[string]int{
	EINVALID:       http.StatusBadRequest,
	EUNKNOWNACTION: http.StatusBadRequest,
	EUNAUTHORIZED:  http.StatusUnauthorized,
	EFORBIDDEN:     http.StatusForbidden,
	ENOTMEMBER:     http.StatusForbidden,
	ENOTFOUND:      http.StatusNotFound,
	ECONFLICT:      http.StatusConflict,
	EGONE:          http.StatusGone,
	ETOOLARGE:      http.StatusRequestEntityTooLarge,
	EUNPROCESSABLE: http.StatusUnprocessableEntity,
	ERATELIMITED:   http.StatusTooManyRequests,
	EINTERNAL:      http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status of an error code; known is false for a
// code outside the table, which then counts as an internal error (500).
func HTTPStatus(code string) (status int, known bool) {
	status, known = statusByCode[code]
	if !known {
		return http.StatusInternalServerError, false
	}
	return status, true
}

package tripsense

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: clients see them in WebSocket error frames
// ({"type":"error","code":...}) and HTTP error bodies ({"error":{"code":...}}).
const (
	EINVALID       = "bad_request"    // malformed or missing input
	EUNKNOWNACTION = "unknown_action" // WebSocket frame with an action we do not know
	ENOTMEMBER     = "not_member"     // the user is not a member of the room
	EFORBIDDEN     = "forbidden"      // identity mismatch or missing privilege
	ETOOLARGE      = "too_large"      // a field or frame over its documented limit
	ERATELIMITED   = "rate_limited"   // a rate limit was hit
	EINTERNAL      = "internal"       // anything else; details are logged, never shown
	ENOTFOUND      = "not_found"      // no such thing (or not visible to the caller)
	ECONFLICT      = "conflict"       // a conditional write lost, or a refused duplicate connection
	EUNAUTHORIZED  = "unauthorized"   // no valid identity
	EGONE          = "gone"           // the connection no longer exists
	EUNPROCESSABLE = "unprocessable"  // well-formed input that cannot be applied
)

// Error is the application error. Code is one of the E* constants; Message is
// safe to show to users. Err, when set, is the underlying cause: it is logged
// but never shown.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted user-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(code string, err error, msg string) *Error {
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrGone is returned by a Pusher when the connection no longer exists.
var ErrGone = &Error{Code: EGONE, Message: "connection is gone"}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "not found"}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic message so that no detail leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

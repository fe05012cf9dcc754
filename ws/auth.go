package ws

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tripsense/tripsense"
)

// AuthTimeout is how long a connection opened without credentials (token
// mode, first-frame authentication) has to send its auth frame. A runtime
// closes it with CloseUnauthorized after that.
const AuthTimeout = 10 * time.Second

// Close codes of refusals a browser can read: a browser shows a refused
// WebSocket upgrade (an HTTP status) only as close 1006, so a runtime that
// knows its client is a browser accepts the upgrade and closes at once with
// one of these (4400 + the HTTP status it stands for) and a reason.
const (
	CloseBadRequest   = 4400 // the first frame is not an auth frame, or the request is malformed
	CloseUnauthorized = 4401 // no credentials, an invalid or expired token, or no auth frame within AuthTimeout
	CloseForbidden    = 4403 // the Origin is not allowed
	CloseConflict     = 4409 // the duplicate-connection policy refused the connection (refuse)
	CloseTooMany      = 4429 // too many connections (of the user under allow)
	CloseInternal     = 4500 // the server could not admit the connection; retry with backoff
)

// RefusalClose is the close code and reason for a refused connection: an
// error of authentication, of the Origin check or of Connect. The reason is
// the error's message, cut to what a close frame holds (123 bytes).
func RefusalClose(err error) (code int, reason string) {
	switch tripsense.ErrorCode(err) {
	case tripsense.EUNAUTHORIZED:
		code = CloseUnauthorized
	case tripsense.EFORBIDDEN:
		code = CloseForbidden
	case tripsense.ECONFLICT:
		code = CloseConflict
	case tripsense.ERATELIMITED:
		code = CloseTooMany
	case tripsense.EINVALID:
		code = CloseBadRequest
	default:
		return CloseInternal, "internal error; retry later"
	}
	reason = tripsense.ErrorMessage(err)
	if len(reason) > 123 {
		reason = reason[:120] + "..."
	}
	return code, reason
}

// authenticate verifies the token of an auth frame.
func (s *Service) authenticate(ctx context.Context, f *inFrame) (tripsense.Principal, error) {
	if s.Auth == nil {
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EINVALID, "auth needs token identity mode; this server trusts the userId of the URL")
	}
	if f.Token == "" {
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EINVALID, `auth needs "token"`)
	}
	p, err := s.Auth.Authenticate(ctx, tripsense.Credentials{Token: f.Token})
	if err != nil {
		return tripsense.Principal{}, err
	}
	if p.Expires.IsZero() {
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EINVALID, "auth needs token identity mode")
	}
	return p, nil
}

// auth replaces the token of an open connection in place:
// {"action":"auth","token":T}. The token must be valid and name the
// connection's user; then the connection lives until the new token's exp
// (Presence.SetExpiry: locally the close timer moves, on AWS the
// connection's records) and the answer is {"type":"authed",...}. Otherwise
// the answer is an error frame (unauthorized, forbidden) and the connection
// keeps its old token and expiry.
func (s *Service) auth(ctx context.Context, c Conn, f *inFrame) error {
	if err := checkUser(c, f); err != nil {
		return err
	}
	p, err := s.authenticate(ctx, f)
	if err != nil {
		return err
	}
	if p.UserID != c.UserID {
		return tripsense.Errorf(tripsense.EFORBIDDEN, "the token is for another user; a connection keeps its user (reconnect to change it)")
	}
	if err := s.Presence.SetExpiry(ctx, c.ID, p.Expires); err != nil {
		if tripsense.ErrorCode(err) == tripsense.ENOTFOUND {
			return tripsense.ErrGone
		}
		return fmt.Errorf("auth: %w", err)
	}
	return s.reply(ctx, c, authedFrame(p))
}

// Authenticate checks the first frame of a connection opened without
// credentials (first-frame authentication, token mode): it must be
// {"action":"auth","token":T} with a valid token. Anything else is refused
// with an EUNAUTHORIZED error (close with RefusalClose). The runtime then
// runs Connect for the principal and Authed.
func (s *Service) Authenticate(ctx context.Context, data []byte) (tripsense.Principal, error) {
	f, err := decodeFrame(data)
	if err != nil || f.Action != "auth" {
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, `authenticate first: send {"action":"auth","token":"..."}`)
	}
	if f.UserID != nil {
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, `the auth frame takes no "userId": the token names the user`)
	}
	p, err := s.authenticate(ctx, &f)
	if err != nil {
		if tripsense.ErrorCode(err) == tripsense.EINVALID {
			err = tripsense.Errorf(tripsense.EUNAUTHORIZED, "%s", tripsense.ErrorMessage(err))
		}
		return tripsense.Principal{}, err
	}
	return p, nil
}

// Authed answers a successful first-frame authentication on the admitted
// connection c with the authed frame of p.
func (s *Service) Authed(ctx context.Context, c Conn, p tripsense.Principal) error {
	return s.reply(ctx, c, authedFrame(p))
}

// authedFrame is {"type":"authed","userId":..,"exp":N}, exp in Unix seconds
// (the token's exp claim).
func authedFrame(p tripsense.Principal) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"type":"authed","userId":`...)
	b = tripsense.AppendJSONString(b, p.UserID)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, p.Expires.Unix(), 10)
	return append(b, '}')
}

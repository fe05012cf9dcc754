package ws

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tripsense/tripsense"
)

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

package ws

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tripsense/tripsense"
)

// First-frame authentication (token mode): a connection opened with neither
// userId nor token in the URL is accepted, but it is nobody's until its
// auth frame. It must send {"action":"auth","token":T} within AuthTimeout;
// until then every other frame is answered with an unauthorized error and
// nothing is delivered to it (it is in no room and no presence). A bad or
// expired token, no auth frame in time, or more than
// MaxUnauthenticatedFrames frames before it close the connection with
// CloseUnauthorized. A valid one makes it the token's user: the runtime
// runs Connect (the duplicate policy, the rooms) and answers AuthedFrame.
// Browsers use it to keep the token out of the URL (and so out of proxy and
// server logs and the browser's history).
const (
	// AuthTimeout is how long a connection opened without credentials has
	// to send its auth frame.
	AuthTimeout = 10 * time.Second
	// MaxUnauthenticatedFrames bounds the frames (pings included, on the
	// single binary) a connection may send before its auth frame.
	MaxUnauthenticatedFrames = 16
)

// Close codes of refusals a browser can read. A browser shows a refused
// WebSocket upgrade (an HTTP status) only as close 1006, so a runtime that
// knows its client is a browser (an Origin header, or the subprotocol
// offered) accepts the upgrade and closes at once with 4000 + the HTTP
// status the refusal stands for, and the reason "<error code>: <message>".
// First-frame authentication closes with CloseUnauthorized too.
const (
	CloseBadRequest   = 4400 // an invalid user id (the HTTP status would be 400)
	CloseUnauthorized = 4401 // no, an invalid or an expired credential; no auth frame in time
	CloseConflict     = 4409 // the duplicate-connection policy refuse refused the connection
	CloseTooMany      = 4429 // the user has too many connections (allow policy)
	CloseInternal     = 1011 // the server could not admit the connection: retry with backoff
)

// maxCloseReason is what a close frame's reason may hold (125 bytes of
// payload less the 2-byte code).
const maxCloseReason = 123

// RefusalClose is the close code and reason of a refused connection: an
// error of authentication or of Connect. The reason is
// "<error code>: <message>" (e.g. "unauthorized: token expired"), cut to
// what a close frame holds.
func RefusalClose(err error) (code int, reason string) {
	switch tripsense.ErrorCode(err) {
	case tripsense.EUNAUTHORIZED:
		code = CloseUnauthorized
	case tripsense.ECONFLICT:
		code = CloseConflict
	case tripsense.ERATELIMITED:
		code = CloseTooMany
	case tripsense.EINVALID:
		code = CloseBadRequest
	default:
		return CloseInternal, "internal: internal error; retry later"
	}
	reason = tripsense.ErrorCode(err) + ": " + tripsense.ErrorMessage(err)
	if len(reason) > maxCloseReason {
		cut := maxCloseReason - 3
		for cut > 0 && reason[cut]&0xC0 == 0x80 { // keep UTF-8 whole
			cut--
		}
		reason = reason[:cut] + "..."
	}
	return code, reason
}

// ErrAuthTimeout is the refusal of a connection that sent no auth frame
// within AuthTimeout.
var ErrAuthTimeout = tripsense.Errorf(tripsense.EUNAUTHORIZED, "no auth frame within %s", AuthTimeout)

// FirstFrameAuth reports whether a connection may open without credentials
// and authenticate with its first frame: in token identity mode (Auth set).
// In dev identity mode the userId stays in the URL.
func (s *Service) FirstFrameAuth() bool { return s.Auth != nil }

// FirstFrame is the verdict on one frame of a connection that has not
// authenticated yet.
type FirstFrame struct {
	// Authenticated: the frame was a valid auth frame for Principal. The
	// runtime runs Connect for it and then sends AuthedFrame(Principal) as
	// the connection's first frame (a Connect error closes it with
	// RefusalClose).
	Authenticated bool
	Principal     tripsense.Principal
	// Reply, when set, is the error frame to send; the connection keeps
	// waiting for its auth frame.
	Reply []byte
	// Close: close the connection with Code and Reason.
	Close  bool
	Code   int
	Reason string
}

// unauthenticated is the answer to every frame but auth before the auth frame.
var unauthenticated = tripsense.Errorf(tripsense.EUNAUTHORIZED, `authenticate first: send {"action":"auth","token":"..."} within %s of connecting`, AuthTimeout)

// CheckFirstFrame judges data, a frame of a connection that has not
// authenticated, after `before` earlier frames of it. Only an auth frame
// with a valid token (and no userId: the token names the user)
// authenticates; an auth frame that fails closes the connection; any other
// frame gets an unauthorized error frame, which echoes its action and
// clientMsgId so the client can match it; the frame after
// MaxUnauthenticatedFrames closes the connection.
func (s *Service) CheckFirstFrame(ctx context.Context, data []byte, before int) FirstFrame {
	refuse := func(err error) FirstFrame {
		code, reason := RefusalClose(err)
		return FirstFrame{Close: true, Code: code, Reason: reason}
	}
	if before >= MaxUnauthenticatedFrames {
		return refuse(tripsense.Errorf(tripsense.EUNAUTHORIZED, "%d frames before the auth frame", before+1))
	}
	f, err := decodeFrame(data)
	if err != nil || f.Action != "auth" {
		return FirstFrame{Reply: errorFrame(unauthenticated, f.Action, f.ClientMsgID)}
	}
	if f.UserID != nil {
		return refuse(tripsense.Errorf(tripsense.EUNAUTHORIZED, `the auth frame takes no "userId": the token names the user`))
	}
	p, err := s.authenticate(ctx, &f)
	if err != nil {
		if tripsense.ErrorCode(err) == tripsense.EINVALID {
			err = tripsense.Errorf(tripsense.EUNAUTHORIZED, "%s", tripsense.ErrorMessage(err))
		}
		return refuse(err)
	}
	return FirstFrame{Authenticated: true, Principal: p}
}

// AuthedFrame is the answer to a successful auth frame:
// {"type":"authed","userId":..,"exp":N}.
func AuthedFrame(p tripsense.Principal) []byte { return authedFrame(p) }

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

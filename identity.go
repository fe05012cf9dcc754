package tripsense

import (
	"context"
	"time"
)

// Principal is an authenticated caller.
type Principal struct {
	UserID string
	Admin  bool
	// Expires is when the credentials stop being valid (a token's exp);
	// zero when they do not expire (dev identity). A connection opened with
	// them is closed then.
	Expires time.Time
}

// Credentials is what a client presented. Adapters fill it from a request:
// UserID from ?userId= or X-User-Id (dev mode); Token from ?token= on a
// WebSocket upgrade (browsers cannot set headers there) and only from
// "Authorization: Bearer" on HTTP, which keeps tokens out of URLs and logs.
type Credentials struct {
	UserID string
	Token  string
}

// Authenticator turns credentials into a principal. It returns an *Error
// with code EUNAUTHORIZED when the credentials prove nothing.
type Authenticator interface {
	Authenticate(ctx context.Context, c Credentials) (Principal, error)
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

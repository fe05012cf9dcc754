package auth

import (
	"context"

	"github.com/tripsense/tripsense"
)

// Dev trusts the user id in the credentials. Identities are NOT verified:
// use it only on loopback, for development. Users named in Admins are admins.
type Dev struct {
	Admins map[string]bool
}

var _ tripsense.Authenticator = (*Dev)(nil)

// Authenticate returns the principal named by c.UserID.
func (d *Dev) Authenticate(_ context.Context, c tripsense.Credentials) (tripsense.Principal, error) {
	if c.UserID == "" {
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, "userId is required (dev identity mode: ?userId= or X-User-Id)")
	}
	if !tripsense.ValidID(c.UserID) {
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, "userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	return tripsense.Principal{UserID: c.UserID, Admin: d.Admins[c.UserID]}, nil
}

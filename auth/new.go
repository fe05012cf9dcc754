package auth

import (
	"fmt"

	"github.com/tripsense/tripsense"
)

// New returns the Authenticator of an identity mode: "token" verifies JWTs
// signed with secret (NewToken: at least MinSecretLen bytes), "dev" trusts
// the user id the client names and makes the users in admins admins. Any
// other mode is an error.
func New(mode, secret string, admins []string) (tripsense.Authenticator, error) {
	switch mode {
	case "token":
		return NewToken(secret)
	case "dev":
		set := make(map[string]bool, len(admins))
		for _, a := range admins {
			set[a] = true
		}
		return &Dev{Admins: set}, nil
	default:
		return nil, fmt.Errorf("identity mode %q: want token or dev", mode)
	}
}

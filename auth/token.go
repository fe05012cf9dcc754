package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tripsense/tripsense"
)

// MinSecretLen is the shortest HMAC secret Token accepts.
const MinSecretLen = 32

// Leeway tolerates clock skew between the minting and the checking machine.
const Leeway = 30 * time.Second

// DefaultMaxLifetime is the longest lifetime a token may have when
// Token.MaxLifetime is not set.
const DefaultMaxLifetime = 24 * time.Hour

// Claims are the token's claims: sub is the user id, exp is required,
// admin marks an administrator.
type Claims struct {
	Admin bool `json:"admin,omitempty"`
	jwt.RegisteredClaims
}

// claimNames are the claims Claims reads; their names match exactly.
var claimNames = []string{"admin", "sub", "exp", "iat", "nbf", "iss", "aud", "jti"}

// UnmarshalJSON decodes the claims strictly: exp, iat and nbf must be JSON
// numbers (golang-jwt also takes a string holding a number), no claim may be
// given twice and no claim name may differ from ours in letter case.
func (c *Claims) UnmarshalJSON(b []byte) error {
	if err := tripsense.CheckJSON(b, claimNames); err != nil {
		return err
	}
	var dates struct {
		Exp json.RawMessage `json:"exp"`
		Iat json.RawMessage `json:"iat"`
		Nbf json.RawMessage `json:"nbf"`
	}
	if err := json.Unmarshal(b, &dates); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", dates.Exp}, {"iat", dates.Iat}, {"nbf", dates.Nbf}} {
		if d.raw != nil && !isNumber(d.raw) {
			return fmt.Errorf("claim %s must be a number", d.name)
		}
	}
	type plain Claims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

// isNumber reports whether raw (a JSON value) is a number.
func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// Token verifies HMAC-SHA256 JWTs (HS256 only; "none" and every other
// algorithm are rejected) signed with Secret.
type Token struct {
	Secret []byte
	// MaxLifetime bounds a token's lifetime: exp - iat when the token has
	// iat, and exp - now always, so a token without iat cannot be valid
	// for longer either. 0 means DefaultMaxLifetime.
	MaxLifetime time.Duration
	Now         func() time.Time // for tests; time.Now when nil
}

var _ tripsense.Authenticator = (*Token)(nil)

// NewToken returns a Token for secret, or CheckSecret's error: too short,
// or an unresolved reference instead of a secret.
func NewToken(secret string) (*Token, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, err
	}
	return &Token{Secret: []byte(secret)}, nil
}

func (t *Token) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Token) maxLifetime() time.Duration {
	if t.MaxLifetime > 0 {
		return t.MaxLifetime
	}
	return DefaultMaxLifetime
}

func unauthorized(msg string) error {
	return tripsense.Errorf(tripsense.EUNAUTHORIZED, "%s", msg)
}

// Authenticate verifies c.Token. A user id sent alongside (?userId=) is
// ignored unless it contradicts the token, which is refused.
func (t *Token) Authenticate(_ context.Context, c tripsense.Credentials) (tripsense.Principal, error) {
	if c.Token == "" {
		return tripsense.Principal{}, unauthorized("a token is required (?token= for WebSocket, Authorization: Bearer for HTTP)")
	}
	var claims Claims
	_, err := jwt.ParseWithClaims(c.Token, &claims, func(*jwt.Token) (any, error) { return t.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return tripsense.Principal{}, unauthorized("token expired")
	case err != nil:
		return tripsense.Principal{}, unauthorized("invalid token")
	case t.tooLong(&claims):
		return tripsense.Principal{}, unauthorized(fmt.Sprintf("token lifetime is over the maximum of %s", t.maxLifetime()))
	case !tripsense.ValidID(claims.Subject):
		return tripsense.Principal{}, unauthorized("token subject is not a valid user id")
	case c.UserID != "" && c.UserID != claims.Subject:
		return tripsense.Principal{}, unauthorized("userId does not match the token")
	}
	return tripsense.Principal{UserID: claims.Subject, Admin: claims.Admin, Expires: claims.ExpiresAt.Time}, nil
}

// tooLong reports whether the token lives longer than MaxLifetime.
func (t *Token) tooLong(c *Claims) bool {
	exp, max := c.ExpiresAt.Time, t.maxLifetime()
	if c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time) > max {
		return true
	}
	return exp.Sub(t.now()) > max+Leeway
}

// Mint signs a token for user valid for ttl (at most MaxLifetime).
func (t *Token) Mint(user string, ttl time.Duration, admin bool) (string, error) {
	if !tripsense.ValidID(user) {
		return "", errors.New("invalid user id")
	}
	if ttl <= 0 {
		return "", errors.New("ttl must be positive")
	}
	if ttl > t.maxLifetime() {
		return "", fmt.Errorf("ttl %s is over the maximum token lifetime of %s", ttl, t.maxLifetime())
	}
	now := t.now()
	claims := Claims{Admin: admin, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.Secret)
}

package auth

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tripsense/tripsense"
)

// MinSecretLen is the shortest HMAC secret Token accepts.
const MinSecretLen = 32

// Leeway tolerates clock skew between the minting and the checking machine.
const Leeway = 30 * time.Second

// Claims are the token's claims: sub is the user id, exp is required,
// admin marks an administrator.
type Claims struct {
	Admin bool `json:"admin,omitempty"`
	jwt.RegisteredClaims
}

// Token verifies HMAC-SHA256 JWTs (HS256 only; "none" and every other
// algorithm are rejected) signed with Secret.
type Token struct {
	Secret []byte
	Now    func() time.Time // for tests; time.Now when nil
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
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return tripsense.Principal{}, unauthorized("token expired")
	case err != nil:
		return tripsense.Principal{}, unauthorized("invalid token")
	case !tripsense.ValidID(claims.Subject):
		return tripsense.Principal{}, unauthorized("token subject is not a valid user id")
	case c.UserID != "" && c.UserID != claims.Subject:
		return tripsense.Principal{}, unauthorized("userId does not match the token")
	}
	return tripsense.Principal{UserID: claims.Subject, Admin: claims.Admin, Expires: claims.ExpiresAt.Time}, nil
}

// Mint signs a token for user valid for ttl.
func (t *Token) Mint(user string, ttl time.Duration, admin bool) (string, error) {
	if !tripsense.ValidID(user) {
		return "", errors.New("invalid user id")
	}
	if ttl <= 0 {
		return "", errors.New("ttl must be positive")
	}
	now := t.now()
	claims := Claims{Admin: admin, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.Secret)
}

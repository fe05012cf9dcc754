// Package auth implements tripsense.Authenticator: Dev trusts the user id the
// client names (the seed's behaviour, for loopback development), Token
// verifies HMAC-SHA256 JWTs.
//
// It imports the root package and github.com/golang-jwt/jwt/v5 only.
package auth

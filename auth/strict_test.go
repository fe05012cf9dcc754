package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
)

// signRaw signs the claims JSON exactly as given (HS256).
func signRaw(payload string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(head))
	return head + "." + enc.EncodeToString(mac.Sum(nil))
}

// TestTokenClaimsAreDecodedStrictly: dates must be numbers, claims are
// given once and in their exact case, and a token lives at most
// MaxLifetime.
func TestTokenClaimsAreDecodedStrictly(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tk := &auth.Token{Secret: []byte(secret), Now: func() time.Time { return now }}
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for _, c := range []struct {
		name, claims string
		ok           bool
	}{
		{"numbers", fmt.Sprintf(`{"sub":"uuid1","iat":%d,"exp":%d}`, at(0), at(time.Hour)), true},
		{"no iat, within the maximum", fmt.Sprintf(`{"sub":"uuid1","exp":%d}`, at(23*time.Hour)), true},
		{"exp as a string", fmt.Sprintf(`{"sub":"uuid1","exp":"%d"}`, at(time.Hour)), false},
		{"iat as a string", fmt.Sprintf(`{"sub":"uuid1","iat":"%d","exp":%d}`, at(0), at(time.Hour)), false},
		{"nbf as a string", fmt.Sprintf(`{"sub":"uuid1","nbf":"%d","exp":%d}`, at(0), at(time.Hour)), false},
		{"exp null", `{"sub":"uuid1","exp":null}`, false},
		{"sub given twice", fmt.Sprintf(`{"sub":"uuid1","sub":"uuid2","exp":%d}`, at(time.Hour)), false},
		{"exp given twice", fmt.Sprintf(`{"sub":"uuid1","exp":%d,"exp":%d}`, at(-time.Hour), at(time.Hour)), false},
		{"SUB in another case", fmt.Sprintf(`{"SUB":"uuid1","exp":%d}`, at(time.Hour)), false},
		{"Admin in another case", fmt.Sprintf(`{"sub":"uuid1","Admin":true,"exp":%d}`, at(time.Hour)), false},
		{"lifetime over the maximum (iat)", fmt.Sprintf(`{"sub":"uuid1","iat":%d,"exp":%d}`, at(-47*time.Hour), at(time.Hour)), false},
		{"lifetime over the maximum (no iat)", fmt.Sprintf(`{"sub":"uuid1","exp":%d}`, at(48*time.Hour)), false},
		{"a year", fmt.Sprintf(`{"sub":"uuid1","iat":%d,"exp":%d}`, at(0), at(365*24*time.Hour)), false},
		{"issued in the future", fmt.Sprintf(`{"sub":"uuid1","iat":%d,"exp":%d}`, at(time.Hour), at(2*time.Hour)), false},
	} {
		p, err := tk.Authenticate(context.Background(), tripsense.Credentials{Token: signRaw(c.claims)})
		switch {
		case c.ok && (err != nil || p.UserID != "uuid1"):
			t.Errorf("%s: %+v %v, want accepted", c.name, p, err)
		case !c.ok && tripsense.ErrorCode(err) != tripsense.EUNAUTHORIZED:
			t.Errorf("%s: %+v %v, want unauthorized", c.name, p, err)
		}
	}
}

func TestMaxLifetimeIsConfigurableAndBoundsMint(t *testing.T) {
	t.Parallel()
	tk := &auth.Token{Secret: []byte(secret)}
	if _, err := tk.Mint("uuid1", auth.DefaultMaxLifetime+time.Minute, false); err == nil {
		t.Fatal("minted a token over the default maximum lifetime")
	}
	tk.MaxLifetime = 10 * time.Minute
	if _, err := tk.Mint("uuid1", time.Hour, false); err == nil {
		t.Fatal("minted a token over MaxLifetime")
	}
	long := &auth.Token{Secret: []byte(secret), MaxLifetime: 72 * time.Hour}
	s, err := long.Mint("uuid1", 48*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(context.Background(), tripsense.Credentials{Token: s}); tripsense.ErrorCode(err) != tripsense.EUNAUTHORIZED {
		t.Fatalf("a 48 h token passed a 10 min maximum: %v", err)
	}
	if _, err := long.Authenticate(context.Background(), tripsense.Credentials{Token: s}); err != nil {
		t.Fatalf("a 48 h token under a 72 h maximum: %v", err)
	}
}

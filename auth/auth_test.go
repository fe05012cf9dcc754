package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
)

const secret = "0123456789abcdef0123456789abcdef-test"

func TestTokenAuthenticate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tk := &auth.Token{Secret: []byte(secret), Now: func() time.Time { return now }}
	good, err := tk.Mint("uuid1", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := tk.Mint("boss", time.Hour, true)
	other := &auth.Token{Secret: []byte(strings.Repeat("z", 40)), Now: tk.Now}
	foreign, _ := other.Mint("uuid1", time.Hour, false)
	past := &auth.Token{Secret: []byte(secret), Now: func() time.Time { return now.Add(-2 * time.Hour) }}
	expired, _ := past.Mint("uuid1", time.Hour, false)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "uuid1"}).SignedString([]byte(secret))
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.RegisteredClaims{Subject: "uuid1", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString([]byte(secret))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Subject: "uuid1", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	badSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "a b", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString([]byte(secret))

	cases := []struct {
		name  string
		creds tripsense.Credentials
		user  string
		admin bool
	}{
		{"valid", tripsense.Credentials{Token: good}, "uuid1", false},
		{"valid with matching userId", tripsense.Credentials{Token: good, UserID: "uuid1"}, "uuid1", false},
		{"admin claim", tripsense.Credentials{Token: admin}, "boss", true},
		{"missing", tripsense.Credentials{UserID: "uuid1"}, "", false},
		{"garbage", tripsense.Credentials{Token: "not.a.jwt"}, "", false},
		{"wrong secret", tripsense.Credentials{Token: foreign}, "", false},
		{"expired", tripsense.Credentials{Token: expired}, "", false},
		{"no exp", tripsense.Credentials{Token: noExp}, "", false},
		{"other algorithm", tripsense.Credentials{Token: hs512}, "", false},
		{"alg none", tripsense.Credentials{Token: none}, "", false},
		{"bad subject", tripsense.Credentials{Token: badSub}, "", false},
		{"userId contradicts token", tripsense.Credentials{Token: good, UserID: "uuid2"}, "", false},
		{"tampered", tripsense.Credentials{Token: good[:len(good)-2] + "xx"}, "", false},
	}
	for _, tc := range cases {
		p, err := tk.Authenticate(context.Background(), tc.creds)
		if tc.user == "" {
			if tripsense.ErrorCode(err) != tripsense.EUNAUTHORIZED {
				t.Errorf("%s: got %+v, %v; want unauthorized", tc.name, p, err)
			}
			continue
		}
		if err != nil || p.UserID != tc.user || p.Admin != tc.admin {
			t.Errorf("%s: got %+v, %v", tc.name, p, err)
		}
	}
}

func TestDevAuthenticate(t *testing.T) {
	t.Parallel()
	d := &auth.Dev{Admins: map[string]bool{"admin": true}}
	if p, err := d.Authenticate(context.Background(), tripsense.Credentials{UserID: "admin"}); err != nil || !p.Admin {
		t.Fatalf("admin: %+v %v", p, err)
	}
	for _, bad := range []string{"", "a b", strings.Repeat("x", 200)} {
		if _, err := d.Authenticate(context.Background(), tripsense.Credentials{UserID: bad}); tripsense.ErrorCode(err) != tripsense.EUNAUTHORIZED {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestNewTokenRejectsShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewToken("short"); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode, secret string
		admins       []string
		want         string // type of the Authenticator; "" means an error
		admin        string // a user New must make admin (dev mode)
	}{
		{"token", secret, nil, "*auth.Token", ""},
		{"token", "short", nil, "", ""},
		{"dev", "", []string{"boss", "ops"}, "*auth.Dev", "ops"},
		{"dev", "", nil, "*auth.Dev", ""},
		{"", secret, nil, "", ""},
		{"cognito", secret, nil, "", ""},
	}
	for _, tc := range cases {
		a, err := auth.New(tc.mode, tc.secret, tc.admins)
		if tc.want == "" {
			if err == nil {
				t.Errorf("New(%q, %q): %T accepted", tc.mode, tc.secret, a)
			}
			continue
		}
		if err != nil || fmt.Sprintf("%T", a) != tc.want {
			t.Errorf("New(%q, %q) = %T, %v; want %s", tc.mode, tc.secret, a, err, tc.want)
			continue
		}
		if tc.admin != "" {
			if p, err := a.Authenticate(context.Background(), tripsense.Credentials{UserID: tc.admin}); err != nil || !p.Admin {
				t.Errorf("New(dev, %v): %s is %+v, %v; want admin", tc.admins, tc.admin, p, err)
			}
			if p, _ := a.Authenticate(context.Background(), tripsense.Credentials{UserID: "uuid1"}); p.Admin {
				t.Errorf("New(dev, %v): uuid1 is admin", tc.admins)
			}
		}
	}
}

// TestSecretThatIsAReference: a secret that is still the reference a
// deployment tool should have resolved is public (it is in serverless.yml),
// whatever its length; NewToken, and so every mode that builds a Token,
// refuses it.
func TestSecretThatIsAReference(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"{{resolve:ssm:/tripsense/prod/token-secret}}",
		"{{resolve:ssm-secure:/tripsense/prod/token-secret:1}}",
		"{{resolve:secretsmanager:tripsense/prod:SecretString:token}}",
		"${ssm:/tripsense/prod/token-secret-with-a-long-name}",
		"${param:tokenSecret}-padding-padding-padding",
		"prefix-${env:TRIPSENSE_TOKEN_SECRET}-suffix-padding",
		"arn:aws:ssm:eu-west-1:123456789012:parameter/tripsense/prod/token-secret",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsense-AbCdEf",
	} {
		err := auth.CheckSecret(s)
		if err == nil {
			t.Errorf("CheckSecret(%q) accepted it", s)
			continue
		}
		if _, err := auth.NewToken(s); err == nil {
			t.Errorf("NewToken(%q) accepted it", s)
		}
		if _, err := auth.New("token", s, nil); err == nil {
			t.Errorf("New(token, %q) accepted it", s)
		}
	}
	for _, s := range []string{secret, "q2V0aGlzIGlzIGEgcmFuZG9tIGJhc2U2NCBzZWNyZXQ+/=", strings.Repeat("$", 40), "{{not-a-reference}}-0123456789abcdef0123"} {
		if err := auth.CheckSecret(s); err != nil {
			t.Errorf("CheckSecret(%q): %v", s, err)
		}
	}
	if err := auth.CheckSecret("short"); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Errorf("short secret: %v", err)
	}
	long := "{{resolve:ssm:/tripsense/prod/token-secret}}"
	if err := auth.CheckSecret(long); strings.Contains(err.Error(), "/tripsense/prod") {
		t.Errorf("error repeats the value: %v", err)
	}
}

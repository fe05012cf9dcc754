// Package lambdaenvtest helps the tests of package lambdaenv and of the
// Lambda mains: a valid base environment, table tests of a configuration,
// and fresh seeded tables on dynalite.
package lambdaenvtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/test/gateway"
)

// Secret is the token secret of the environment Dynalite returns.
const Secret = "0123456789abcdef0123456789abcdef-lambda"

var creds = credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")

// StaticCreds keeps the SDK from looking for credentials (dynalite takes
// any).
var StaticCreds lambdaenv.LoadOption = config.WithCredentialsProvider(creds)

// Getenv returns the getenv of a valid base configuration (region, table
// prefix tripsense-dev-, a token secret) with set applied ("" unsets).
func Getenv(set map[string]string) func(string) string {
	env := map[string]string{
		"AWS_REGION":             "eu-west-1",
		"TRIPSENSE_TABLE_PREFIX": "tripsense-dev-",
		"TRIPSENSE_TOKEN_SECRET": strings.Repeat("k", 32),
	}
	for k, v := range set {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// Expect checks the outcome of reading one row of a configuration table
// test: with wantErr, err must contain it; without, err must be nil and
// check, when set, must hold.
func Expect[C any](t *testing.T, name string, c C, err error, wantErr string, check func(C) bool) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("%s: %v", name, err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("%s: err %v, want one naming %s", name, err, wantErr)
	case wantErr == "" && check != nil && !check(c):
		t.Errorf("%s: %+v", name, c)
	}
}

// Dynalite creates a fresh set of tables on dynalite (gateway.Dynalite),
// prefixed with name and a random suffix, with the seed's memberships
// (uuid1 in uuidroom1 and uuidroom2, uuid2 in uuidroom2 and uuidroom3), and
// returns the environment of a function using them in token mode with
// Secret.
func Dynalite(tb testing.TB, name string) map[string]string {
	tb.Helper()
	endpoint := gateway.Dynalite(tb)
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := name + hex.EncodeToString(b[:]) + "-"
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tables := dynamo.TablesWithPrefix(prefix)
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		tb.Fatal(err)
	}
	st := dynamo.New(db, dynamo.Config{Tables: tables})
	for _, m := range [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}} {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			tb.Fatal(err)
		}
	}
	return map[string]string{
		"AWS_REGION":                  "us-east-1",
		"TRIPSENSE_TABLE_PREFIX":      prefix,
		"TRIPSENSE_DYNAMODB_ENDPOINT": endpoint,
		"TRIPSENSE_TOKEN_SECRET":      Secret,
	}
}

// BaseTables creates the tables of Getenv's base configuration (prefix
// tripsense-dev-, shared by every test that uses them, with no data) on
// dynalite and returns Getenv's base configuration with set applied and
// the dynalite endpoint: a cold start reads the store epoch there.
func BaseTables(tb testing.TB, set map[string]string) func(string) string {
	tb.Helper()
	endpoint := gateway.Dynalite(tb)
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dynamo.CreateTables(ctx, db, dynamo.TablesWithPrefix("tripsense-dev-")); err != nil {
		tb.Fatal(err)
	}
	all := map[string]string{"TRIPSENSE_DYNAMODB_ENDPOINT": endpoint}
	for k, v := range set {
		all[k] = v
	}
	return Getenv(all)
}

// Token mints a token of Secret for user, valid for an hour.
func Token(tb testing.TB, user string, admin bool) string {
	tb.Helper()
	tk, err := auth.NewToken(Secret)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := tk.Mint(user, time.Hour, admin)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkHandler measures f's handler construction (not the
// configuration's) on Getenv's base configuration.
func BenchmarkHandler[C interface{ Shared() lambdaenv.Config }, H any](b *testing.B, f lambdaenv.Function[C, H]) {
	cfg, err := f.Config(BaseTables(b, nil))
	if err != nil {
		b.Fatal(err)
	}
	log := lambdaenv.NewLogger(io.Discard, slog.LevelInfo, f.Name)
	for b.Loop() {
		if _, err := f.Handler(context.Background(), cfg, log, lambdaenv.NewMetrics(f.Name, io.Discard, log), StaticCreds); err != nil {
			b.Fatal(err)
		}
	}
}

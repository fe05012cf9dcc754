package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws/apigw"
)

var staticCreds = config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""))

const secret = "0123456789abcdef0123456789abcdef-lambda-ws"

// mustTables creates a fresh set of tables on dynalite with the seed's
// memberships and returns the table prefix.
func mustTables(t testing.TB, endpoint string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "lws" + hex.EncodeToString(b[:]) + "-"
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tables := dynamo.TablesWithPrefix(prefix)
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		t.Fatal(err)
	}
	st := dynamo.New(db, dynamo.Config{Tables: tables})
	for _, m := range [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}} {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	return prefix
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHandlerWiring runs the function's real wiring (configFromEnv and
// newHandler, SDK clients included) behind the gateway harness, against
// dynalite, in token mode as deployed.
func TestHandlerWiring(t *testing.T) {
	t.Parallel()
	endpoint := gateway.Dynalite(t)
	prefix := mustTables(t, endpoint)

	var gw *gateway.Server
	var h *apigw.Handler
	gw = gateway.New(func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return h.Handle(ctx, req)
	},
		gateway.Options{Routes: apigw.Routes, Logf: t.Logf})
	defer gw.Close()

	cfg, err := configFromEnv(envFunc(map[string]string{
		"AWS_REGION":                  "us-east-1",
		"TRIPSENSE_TABLE_PREFIX":      prefix,
		"TRIPSENSE_DYNAMODB_ENDPOINT": endpoint,
		"TRIPSENSE_TOKEN_SECRET":      secret,
		"TRIPSENSE_WS_ENDPOINT":       gw.Endpoint, // the harness is plain http
	}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	start := time.Now()
	h, err = newHandler(context.Background(), cfg, newLogger(logs, slog.LevelInfo), staticCreds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("handler construction took %v", time.Since(start))

	tk, _ := auth.NewToken(secret)
	tok := func(u string) string { s, _ := tk.Mint(u, time.Hour, false); return "token=" + url.QueryEscape(s) }

	if _, status, err := gateway.DialStatus(gw, "userId=uuid1"); err == nil || status != 401 {
		t.Fatalf("dev identity in token mode: status %d, %v", status, err)
	}
	u1 := gateway.Dial(t, gw, tok("uuid1"))
	u2 := gateway.Dial(t, gw, tok("uuid2"))
	u1.Send(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"hi from lambda","messageType":"text message","clientMsgId":"w-1"}`)
	if ack := u1.NextOfType("ack"); ack["index"] != float64(1) {
		t.Fatalf("ack %v", ack)
	}
	if m := u2.NextOfType("message"); m["chatMessage"] != "hi from lambda" || m["index"] != float64(1) {
		t.Fatalf("message %v", m)
	}
	u1.ExpectNone()
	u2.Close()
	if !strings.Contains(logs.String(), `"msg":"connected"`) || !strings.Contains(logs.String(), `"fn":"lambda-ws"`) {
		t.Fatalf("logs:\n%s", logs)
	}
}

func BenchmarkNewHandler(b *testing.B) {
	cfg, err := configFromEnv(envFunc(baseEnv()))
	if err != nil {
		b.Fatal(err)
	}
	log := newLogger(&bytes.Buffer{}, slog.LevelInfo)
	for b.Loop() {
		if _, err := newHandler(context.Background(), cfg, log, staticCreds); err != nil {
			b.Fatal(err)
		}
	}
}

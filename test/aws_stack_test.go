package test

// The AWS runtime, end to end: the Lambda handlers of cmd/lambda-ws and
// cmd/lambda-api (ws/apigw, api through aws-lambda-go-api-proxy) over
// store/dynamo on dynalite, behind the API Gateway harness of test/gateway,
// with real WebSocket clients and the real apigatewaymanagementapi client.
// The stack is wired like the two mains wire it (cmd/*/wire.go; their own
// tests run that exact wiring); here each function gets its own DynamoDB
// client with a recorder, so that every call the code makes is checked
// against the IAM policy of that function in the packaged CloudFormation
// template.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/dynamo/dynamotest"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/apigw"
)

const awsSecret = "0123456789abcdef0123456789abcdef-aws-e2e"

var awsCreds = credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")

// awsStack is one isolated deployment: its own tables (a random prefix on
// the shared dynalite), its own gateway and handlers.
type awsStack struct {
	t      *testing.T
	prefix string
	gw     *gateway.Server
	// newWS builds one instance of the WebSocket function (the gateway's
	// Options.NewHandler).
	newWS func() *apigw.Handler
	// options adjust the gateway before it starts (newAWSStackWith).
	options []func(*gateway.Options)
	// wsOptions adjust every ws.Service the WebSocket function's instances
	// build (set them before the first dial).
	wsOptions []func(*ws.Service)
	// wsOrigins are the WebSocket function's allowed origins
	// (TRIPSENSE_ALLOWED_ORIGINS); set before the first dial.
	wsOrigins tripsense.Origins
	endpoint  string // dynalite
	api       *httpadapter.HandlerAdapterV2
	store     *dynamo.Store    // for seeding and inspection (not recorded)
	presence  *dynamo.Presence // for inspection (not recorded)
	tokens    *auth.Token
	wsCalls   *callLog
	apiCalls  *callLog
	// wsCount and apiCount count calls and consumed capacity per operation
	// (store/dynamo's middleware), for the cost test.
	wsCount  *dynamo.CallCounter
	apiCount *dynamo.CallCounter
	logs     *awsLogBuffer
}

// callLog records the DynamoDB calls of one function as
// "dynamodb:Op table[/index/name]" with the stage prefix removed.
type callLog struct {
	prefix string
	mu     sync.Mutex
	calls  map[string]int
}

func (l *callLog) addToStack(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("tripsense.test.callLog",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			for _, res := range l.resources(in.Parameters) {
				l.mu.Lock()
				l.calls[res]++
				l.mu.Unlock()
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

func (l *callLog) resources(params any) []string {
	name := func(op string, table, index *string) string {
		r := "dynamodb:" + op + " " + strings.TrimPrefix(aws.ToString(table), l.prefix)
		if index != nil {
			r += "/index/" + *index
		}
		return r
	}
	switch v := params.(type) {
	case *dynamodb.GetItemInput:
		return []string{name("GetItem", v.TableName, nil)}
	case *dynamodb.PutItemInput:
		return []string{name("PutItem", v.TableName, nil)}
	case *dynamodb.UpdateItemInput:
		return []string{name("UpdateItem", v.TableName, nil)}
	case *dynamodb.DeleteItemInput:
		return []string{name("DeleteItem", v.TableName, nil)}
	case *dynamodb.QueryInput:
		return []string{name("Query", v.TableName, v.IndexName)}
	case *dynamodb.ScanInput:
		return []string{name("Scan", v.TableName, v.IndexName)}
	case *dynamodb.BatchWriteItemInput:
		var out []string
		for table := range v.RequestItems {
			out = append(out, name("BatchWriteItem", &table, nil))
		}
		return out
	case *dynamodb.BatchGetItemInput:
		var out []string
		for table := range v.RequestItems {
			out = append(out, name("BatchGetItem", &table, nil))
		}
		return out
	}
	return []string{fmt.Sprintf("dynamodb:%T", params)}
}

func (l *callLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.calls))
	for k, v := range l.calls {
		out[k] = v
	}
	return out
}

func newDynamoClient(endpoint string, log *callLog, count *dynamo.CallCounter) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: awsCreds},
		func(o *dynamodb.Options) {
			if log != nil {
				o.APIOptions = append(o.APIOptions, log.addToStack)
			}
			if count != nil {
				o.APIOptions = append(o.APIOptions, count.AddToStack)
			}
		})
}

var seedMemberships = [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}}

// mustAWSTables creates a fresh set of tables on the shared dynalite under
// a random prefix, adds the seed's memberships, and returns the prefix with
// a store and presence for seeding and inspection.
func mustAWSTables(t *testing.T) (endpoint, prefix string, st *dynamo.Store, pres *dynamo.Presence) {
	t.Helper()
	endpoint = gateway.Dynalite(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix = "e2e" + hex.EncodeToString(b[:]) + "-"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := newDynamoClient(endpoint, nil, nil)
	tables := dynamo.TablesWithPrefix(prefix)
	if err := dynamo.CreateTables(ctx, admin, tables); err != nil {
		t.Fatal(err)
	}
	dcfg := dynamo.Config{Tables: tables}
	st, pres = dynamo.New(admin, dcfg), dynamo.NewPresence(admin, dcfg)
	for _, m := range seedMemberships {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	return endpoint, prefix, st, pres
}

func newAWSStack(t *testing.T) *awsStack {
	t.Helper()
	return newAWSStackWith(t)
}

// newAWSStackWith is newAWSStack with gateway options changed by opts (a
// scaled-down integration timeout, a post rate).
func newAWSStackWith(t *testing.T, opts ...func(*gateway.Options)) *awsStack {
	t.Helper()
	return newAWSStackLagged(t, 0, opts...)
}

// newAWSStackLagged is newAWSStackWith whose functions' DynamoDB clients
// see every global secondary index lag behind its table by gsiLag
// (dynamotest.GSILag, one for all instances of both functions), as AWS's
// eventually consistent indexes do; 0 is dynalite's synchronous indexes.
// (The lag wrapper splits batch writes, so the cost tests do not use it.)
func newAWSStackLagged(t *testing.T, gsiLag time.Duration, opts ...func(*gateway.Options)) *awsStack {
	t.Helper()
	endpoint, prefix, st, pres := mustAWSTables(t)
	s := &awsStack{t: t, prefix: prefix, store: st, presence: pres, logs: &awsLogBuffer{}, options: opts, endpoint: endpoint}
	s.wsCalls = &callLog{prefix: s.prefix, calls: map[string]int{}}
	s.apiCalls = &callLog{prefix: s.prefix, calls: map[string]int{}}
	s.wsCount, s.apiCount = &dynamo.CallCounter{}, &dynamo.CallCounter{}
	dcfg := dynamo.Config{Tables: dynamo.TablesWithPrefix(prefix)}
	tk, err := auth.NewToken(awsSecret)
	if err != nil {
		t.Fatal(err)
	}
	s.tokens = tk
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Cleanups run last-in first-out: the IAM check runs after the gateway
	// closed (and ran every $disconnect).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function logs:\n%s", s.logs.String())
		}
		checkCallsAllowed(t, "ws", s.wsCalls.snapshot())
		checkCallsAllowed(t, "api", s.apiCalls.snapshot())
	})

	// The WebSocket function. The gateway serves TLS, so the endpoint
	// derived from each event (https://{domainName}/{stage}) is a real
	// management endpoint: no override, as in AWS. Each Lambda instance the
	// gateway starts gets its own ws.Service (its own in-process locks and
	// order), as each Lambda process would; they share the recorded
	// DynamoDB client, which holds no state of the use cases.
	var mgmtClient func() *http.Client
	mgmt := func(endpoint string) apigw.ManagementAPI {
		return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			BaseEndpoint: aws.String(endpoint), Region: "us-east-1", Credentials: awsCreds, HTTPClient: mgmtClient(),
		})
	}
	var lag *dynamotest.GSILag
	if gsiLag > 0 {
		lag = dynamotest.NewGSILag(dcfg.Tables, gsiLag, nil)
	}
	withLag := func(c *dynamodb.Client) dynamo.API {
		if lag == nil {
			return c
		}
		return lag.Wrap(c)
	}
	wsDB := withLag(newDynamoClient(endpoint, s.wsCalls, s.wsCount))
	s.newWS = func() *apigw.Handler {
		wsStore, wsPresence := dynamo.New(wsDB, dcfg), dynamo.NewPresence(wsDB, dcfg)
		wsPusher := &apigw.Pusher{Clients: &apigw.Clients{New: mgmt}, Presence: wsPresence, Log: log}
		svc := &ws.Service{
			Store: wsStore, Presence: wsPresence, Pusher: wsPusher, Catchup: &catchup.Service{Store: wsStore},
			Policy: ws.Replace, FanoutParallelism: 16, ReceiptInterval: -1, MaxChatMessageBytes: tripsense.MaxChatMessageBytesGateway, Log: log,
			Auth: tk,
		}
		for _, o := range s.wsOptions {
			o(svc)
		}
		return &apigw.Handler{Service: svc, Connections: wsPresence, Pusher: wsPusher, Auth: tk, Origins: s.wsOrigins, Log: log}
	}
	gopts := gateway.Options{Routes: apigw.Routes, TLS: true, Logf: t.Logf, NewHandler: func() gateway.Handler { return s.newWS().Handle }}
	for _, o := range s.options {
		o(&gopts)
	}
	s.gw = gateway.New(nil, gopts)
	mgmtClient = func() *http.Client { return s.gw.HTTPClient }
	t.Cleanup(s.gw.Close)

	// The HTTP API function.
	apiDB := withLag(newDynamoClient(endpoint, s.apiCalls, s.apiCount))
	apiStore, apiPresence := dynamo.New(apiDB, dcfg), dynamo.NewPresence(apiDB, dcfg)
	catch := &catchup.Service{Store: apiStore}
	members := &ws.Service{
		Store: apiStore, Presence: apiPresence, Catchup: catch, Policy: ws.Replace, ReceiptInterval: -1, Log: log,
		Pusher: &apigw.Pusher{Clients: &apigw.Clients{New: mgmt}, Endpoint: s.gw.Endpoint, Presence: apiPresence, Log: log},
	}
	s.api = httpadapter.NewV2(api.New(api.Config{Sync: catch, Members: members, Reads: members, Auth: tk, Log: log}))
	return s
}

func (s *awsStack) token(user string, admin bool) string {
	s.t.Helper()
	tok, err := s.tokens.Mint(user, time.Hour, admin)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// dial opens a WebSocket as user (token identity, as deployed).
func (s *awsStack) dial(user string) *gateway.Client {
	s.t.Helper()
	return gateway.Dial(s.t, s.gw, "token="+url.QueryEscape(s.token(user, false)))
}

// http invokes the HTTP API function with a payload format 2.0 event, as
// API Gateway's HTTP API does, and decodes the JSON answer.
func (s *awsStack) http(method, path, rawQuery, token, body string) (int, map[string]any) {
	s.t.Helper()
	h := map[string]string{"user-agent": "curl/8.5.0"}
	if token != "" {
		h["authorization"] = "Bearer " + token
	}
	if body != "" {
		h["content-type"] = "application/json"
	}
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + path, RawPath: path, RawQueryString: rawQuery, Headers: h, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			APIID: "e2e", DomainName: "e2e.execute-api.us-east-1.amazonaws.com", Stage: "$default",
			RequestID: "http-" + method + path, TimeEpoch: time.Now().UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1"},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := s.api.ProxyWithContext(ctx, req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
		s.t.Fatalf("%s %s: %d, body not JSON: %q", method, path, resp.StatusCode, resp.Body)
	}
	return resp.StatusCode, v
}

func sendFrame(room, body, clientMsgID string) string {
	b, _ := json.Marshal(map[string]string{"action": "sendMessage", "chatroomId": room, "chatMessage": body,
		"messageType": "text message", "clientMsgId": clientMsgID})
	return string(b)
}

// mustSend sends a message and waits for its ack; it returns the index.
func mustSend(t *testing.T, c *gateway.Client, room, body string) int64 {
	t.Helper()
	id := clientMsgID(body)
	c.Send(sendFrame(room, body, id))
	ack := c.NextOfType("ack")
	if ack["chatroomId"] != room || ack["clientMsgId"] != id {
		t.Fatalf("ack %v for %s in %s", ack, body, room)
	}
	return int64(ack["index"].(float64))
}

// clientMsgID is the clientMsgId mustSend uses for body.
func clientMsgID(body string) string { return "c-" + strings.ReplaceAll(body, " ", "_") }

func mustMessage(t *testing.T, c *gateway.Client, room, body string, index int64) {
	t.Helper()
	m := c.NextOfType("message")
	if m["chatroomId"] != room || m["chatMessage"] != body || m["index"] != float64(index) {
		t.Fatalf("got %v, want message %q #%d in %s", m, body, index, room)
	}
}

// jsonBytes is for substring checks on a decoded answer.
func jsonBytes(v any) []byte {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	return buf.Bytes()
}

// awsLogBuffer collects the functions' JSON logs.
type awsLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *awsLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *awsLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gatewayDialStatus tries a connection that $connect should refuse.
func gatewayDialStatus(s *awsStack, query string) (*gateway.Client, int, error) {
	return gateway.DialStatus(s.gw, query)
}

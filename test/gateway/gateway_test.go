package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"

	"github.com/tripsense/tripsense/test/gateway"
)

// echo is a WebSocket API handler that records events and answers every
// frame by posting "route:body" back through the real SDK client.
type echo struct {
	mu     sync.Mutex
	events []events.APIGatewayWebsocketProxyRequest
	disc   chan string
	client func(endpoint string) *apigatewaymanagementapi.Client
}

func (e *echo) handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	e.mu.Lock()
	e.events = append(e.events, req)
	e.mu.Unlock()
	rc := req.RequestContext
	switch rc.RouteKey {
	case "$connect":
		if req.QueryStringParameters["userId"] == "" {
			return events.APIGatewayProxyResponse{StatusCode: 401, Body: `{"error":{"code":"unauthorized"}}`}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	case "$disconnect":
		e.disc <- rc.ConnectionID
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	cl := e.client("https://" + rc.DomainName + "/" + rc.Stage)
	if req.Body == "delete me" {
		_, err := cl.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &rc.ConnectionID})
		return events.APIGatewayProxyResponse{StatusCode: 200}, err
	}
	_, err := cl.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: &rc.ConnectionID, Data: []byte(rc.RouteKey + ":" + req.Body),
	})
	return events.APIGatewayProxyResponse{StatusCode: 200}, err
}

func TestHarness(t *testing.T) {
	t.Parallel()
	e := &echo{disc: make(chan string, 4)}
	gw := gateway.New(e.handle, gateway.Options{Routes: []string{"ping", "sendMessage"}, TLS: true, Logf: t.Logf})
	defer gw.Close()
	e.client = func(ep string) *apigatewaymanagementapi.Client {
		return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			BaseEndpoint: aws.String(ep), Region: "eu-west-1", HTTPClient: gw.HTTPClient,
			Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Refused $connect: the handshake fails with the handler's status.
	_, resp, err := websocket.Dial(ctx, gw.URL, &websocket.DialOptions{HTTPClient: gw.HTTPClient})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refused connect: err %v, resp %v", err, resp)
	}

	c, resp, err := websocket.Dial(ctx, gw.URL+"?userId=uuid1", &websocket.DialOptions{HTTPClient: gw.HTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	id := resp.Header.Get(gateway.ConnectionIDHeader)
	if len(id) != 16 {
		t.Fatalf("connection id %q", id)
	}
	for _, tc := range []struct{ send, want string }{
		{`{"action":"ping"}`, `ping:{"action":"ping"}`},
		{`{"action":"dance"}`, `$default:{"action":"dance"}`},
		{`{"action":7}`, `$default:{"action":7}`},
		{`not json`, `$default:not json`},
	} {
		if err := c.Write(ctx, websocket.MessageText, []byte(tc.send)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != tc.want {
			t.Fatalf("sent %s: got %q, %v; want %q", tc.send, got, err, tc.want)
		}
	}
	e.mu.Lock()
	first := e.events[1] // [0] is the refused $connect
	e.mu.Unlock()
	if first.RequestContext.RouteKey != "$connect" || first.QueryStringParameters["userId"] != "uuid1" || first.RequestContext.ConnectionID != id || first.RequestContext.Stage != "dev" {
		t.Fatalf("connect event %+v", first)
	}

	// DELETE closes the socket and $disconnect follows; then posts get 410.
	if err := c.Write(ctx, websocket.MessageText, []byte("delete me")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) == -1 {
		t.Fatalf("read after delete: %v, want a close", err)
	}
	select {
	case got := <-e.disc:
		if got != id {
			t.Fatalf("$disconnect for %q", got)
		}
	case <-ctx.Done():
		t.Fatal("no $disconnect after DeleteConnection")
	}
	_, err = e.client(gw.Endpoint).PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte("x")})
	var gone *types.GoneException
	if !errors.As(err, &gone) {
		t.Fatalf("post to closed connection: %v, want GoneException", err)
	}
	if posts, deletes, gones := gw.Stats(); posts != 4 || deletes != 1 || gones != 1 {
		t.Fatalf("stats %d %d %d", posts, deletes, gones)
	}
}

func TestVanishSendsNoDisconnect(t *testing.T) {
	t.Parallel()
	e := &echo{disc: make(chan string, 4)}
	gw := gateway.New(e.handle, gateway.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, gw.URL+"?userId=u", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	id := resp.Header.Get(gateway.ConnectionIDHeader)
	if !gw.Vanish(id) {
		t.Fatal("not vanished")
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("socket still open")
	}
	cl := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(gw.Endpoint), Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	_, err = cl.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte("x")})
	var gone *types.GoneException
	if !errors.As(err, &gone) {
		t.Fatalf("post to vanished connection: %v", err)
	}
	// Unsigned management calls are refused, as in AWS.
	anon := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(gw.Endpoint), Region: "eu-west-1", Credentials: aws.AnonymousCredentials{},
	})
	_, err = anon.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte("x")})
	var forbidden *types.ForbiddenException
	if !errors.As(err, &forbidden) {
		t.Fatalf("unsigned post: %v, want ForbiddenException", err)
	}
	gw.Close()
	select {
	case id := <-e.disc:
		t.Fatalf("$disconnect for vanished connection %s", id)
	default:
	}
}

func TestDynalite(t *testing.T) {
	t.Parallel()
	ep := gateway.Dynalite(t)
	resp, err := http.Post(ep, "application/x-amz-json-1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ep2 := gateway.Dynalite(t); ep2 != ep {
		t.Fatalf("second call started another dynalite: %s vs %s", ep2, ep)
	}
}

// instanceProbe is one Lambda instance of TestPool: it fails the test if
// two invocations ever run on it at once.
type instanceProbe struct {
	t       *testing.T
	running atomic.Int32
	served  atomic.Int32
}

func TestPoolServesOneInvocationPerInstance(t *testing.T) {
	t.Parallel()
	var (
		mu        sync.Mutex
		instances []*instanceProbe
		release   = make(chan struct{})
		started   = make(chan struct{}, 16)
	)
	gw := gateway.New(nil, gateway.Options{Instances: 3, Logf: t.Logf, NewHandler: func() gateway.Handler {
		p := &instanceProbe{t: t}
		mu.Lock()
		instances = append(instances, p)
		mu.Unlock()
		return func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			if n := p.running.Add(1); n != 1 {
				t.Errorf("instance runs %d invocations at once", n)
			}
			defer p.running.Add(-1)
			p.served.Add(1)
			if req.RequestContext.EventType == "MESSAGE" {
				started <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}
	}})
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, gw.URL+"?userId=u", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if gw.Instances() != 1 {
		t.Fatalf("%d instances after $connect, want 1", gw.Instances())
	}
	// Five concurrent frames: three instances serve, two frames wait.
	for range 5 {
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("frames not started")
		}
	}
	select {
	case <-started:
		t.Fatal("a fourth invocation started while three instances were busy")
	default:
	}
	close(release)
	// The two waiting frames start once instances are free; WaitIdle alone
	// could return before the gateway has read them off the socket.
	for range 2 {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("the waiting frames never started")
		}
	}
	if err := gw.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if gw.Instances() != 3 {
		t.Fatalf("%d instances built, want 3 (the pool size)", gw.Instances())
	}
	var served int32
	mu.Lock()
	for _, p := range instances {
		served += p.served.Load()
	}
	mu.Unlock()
	if served != 6 {
		t.Fatalf("%d invocations served, want 6", served)
	}
}

func TestIntegrationTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	var builds atomic.Int32
	deadlines := make(chan time.Time, 4)
	gw := gateway.New(nil, gateway.Options{Instances: 1, InvokeTimeout: timeout, Logf: t.Logf, NewHandler: func() gateway.Handler {
		builds.Add(1)
		return func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			dl, ok := ctx.Deadline()
			if !ok {
				t.Error("invocation context has no deadline")
			}
			deadlines <- dl
			if req.QueryStringParameters["slow"] != "" || req.Body == "slow" {
				<-ctx.Done() // runs into the timeout
			}
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}
	}})
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A $connect that times out fails the handshake with 504.
	before := time.Now()
	_, resp, err := websocket.Dial(ctx, gw.URL+"?slow=1", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("timed-out connect: %v, %v", err, resp)
	}
	if dl := <-deadlines; dl.Before(before.Add(timeout)) || dl.After(time.Now()) {
		t.Fatalf("deadline %v after the dial, want the %v timeout", dl.Sub(before), timeout)
	}
	// The killed instance is never reused: the next invocation builds one.
	c, _, err := websocket.Dial(ctx, gw.URL+"?userId=u", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	<-deadlines
	if n := builds.Load(); n != 2 {
		t.Fatalf("%d instances built, want 2 (the timed-out one is discarded)", n)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	<-deadlines
	if err := gw.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if gw.Timeouts() != 2 || builds.Load() != 2 {
		t.Fatalf("timeouts %d, builds %d; want 2 and 2", gw.Timeouts(), builds.Load())
	}
}

func TestFrameLimits(t *testing.T) {
	t.Parallel()
	e := &echo{disc: make(chan string, 4)}
	gw := gateway.New(e.handle, gateway.Options{Logf: t.Logf})
	defer gw.Close()
	e.client = func(ep string) *apigatewaymanagementapi.Client {
		return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			BaseEndpoint: aws.String(gw.Endpoint), Region: "eu-west-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() *websocket.Conn {
		c, _, err := websocket.Dial(ctx, gw.URL+"?userId=u", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		c.SetReadLimit(1 << 20)
		return c
	}
	wantClose := func(c *websocket.Conn, code websocket.StatusCode) {
		t.Helper()
		_, data, err := c.Read(ctx)
		if st := websocket.CloseStatus(err); st != code {
			t.Fatalf("got %q, %v (status %d), want close %d", data, err, st, code)
		}
		select {
		case <-e.disc:
		case <-ctx.Done():
			t.Fatal("no $disconnect")
		}
	}

	// Exactly 32 KB passes and is handled.
	c := dial()
	ok := strings.Repeat("a", gateway.MaxFrameBytes)
	if err := c.Write(ctx, websocket.MessageText, []byte(ok)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "$default:"+ok {
		t.Fatalf("32 KB frame: %d bytes, %v", len(got), err)
	}
	// One byte more closes with 1009 and never reaches the handler.
	if err := c.Write(ctx, websocket.MessageText, []byte(ok+"a")); err != nil {
		t.Fatal(err)
	}
	wantClose(c, websocket.StatusMessageTooBig)

	// A binary frame closes with 1003.
	c = dial()
	if err := c.Write(ctx, websocket.MessageBinary, []byte(`{"action":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	wantClose(c, websocket.StatusUnsupportedData)

	e.mu.Lock()
	defer e.mu.Unlock()
	var disc []int64
	for _, ev := range e.events {
		if ev.RequestContext.EventType == "MESSAGE" && len(ev.Body) > gateway.MaxFrameBytes {
			t.Fatalf("a frame of %d bytes reached the handler", len(ev.Body))
		}
		if ev.RequestContext.EventType == "MESSAGE" && ev.IsBase64Encoded {
			t.Fatal("a binary frame reached the handler")
		}
		if ev.RequestContext.EventType == "DISCONNECT" {
			disc = append(disc, ev.RequestContext.DisconnectStatusCode)
		}
	}
	if len(disc) != 2 || disc[0] != 1009 || disc[1] != 1003 {
		t.Fatalf("$disconnect status codes %v, want [1009 1003]", disc)
	}
}

func TestPostRateLimit(t *testing.T) {
	t.Parallel()
	e := &echo{disc: make(chan string, 4)}
	gw := gateway.New(e.handle, gateway.Options{PostRate: 1, PostBurst: 2, Logf: t.Logf})
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, gw.URL+"?userId=u", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	id := resp.Header.Get(gateway.ConnectionIDHeader)
	cl := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(gw.Endpoint), Region: "eu-west-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	var limited int
	for range 3 {
		_, err := cl.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte("x")})
		var le *types.LimitExceededException
		switch {
		case err == nil:
		case errors.As(err, &le):
			limited++
		default:
			t.Fatalf("post: %v", err)
		}
	}
	if limited != 1 || gw.Throttled() != 1 {
		t.Fatalf("%d posts limited (gateway counted %d), want 1 of 3 with a burst of 2", limited, gw.Throttled())
	}
}

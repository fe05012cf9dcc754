package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
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

// Package gateway is a test harness that stands in for Amazon API Gateway's
// WebSocket APIs and the Lambda service behind them, on 127.0.0.1, so that
// the Lambda handler of cmd/lambda-ws runs end to end in-process with real
// WebSocket clients and the real apigatewaymanagementapi SDK client.
//
// The server accepts WebSocket connections on /{stage} and turns them into
// events.APIGatewayWebsocketProxyRequest invocations of the handler, with
// requestContext.eventType set as API Gateway sets it: $connect (CONNECT,
// with the query string; any status but 200 refuses the handshake with that
// status), one invocation per text frame (MESSAGE) routed like
// routeSelectionExpression $request.body.action (a declared route when the
// body is a JSON object whose "action" names one, else $default; frames are
// handled concurrently, as API Gateway does), and $disconnect (DISCONNECT)
// when the socket closes. It also serves the management endpoints under
// /{stage}/@connections/{id}: POST writes the body to that socket as one
// text message and answers once it is written, DELETE closes the socket
// (and so triggers $disconnect), GET describes it; an unknown or closed
// connection gets 410 with a GoneException, as API Gateway answers.
// Management requests must be SigV4-signed (any key: the signature is not
// verified), so a client without credentials fails as it would in AWS.
//
// What it models of AWS, because these limits hid bugs when it did not:
//
//   - Lambda instances (Options.NewHandler): a pool of handler instances,
//     each built by the factory with its own process state and serving one
//     invocation at a time, so an in-process lock protects nothing across
//     invocations. A new instance is built when every existing one is busy,
//     up to Options.Instances (then invocations wait for one).
//   - The integration timeout (Options.InvokeTimeout, 29 s on AWS, scaled
//     down in tests): the invocation's context carries that deadline (what
//     Lambda's ctx.Deadline() returns); when it passes, the invocation is
//     abandoned: its instance is discarded as Lambda kills it, a $connect
//     gets 504, and the client gets nothing more from it (its context is
//     cancelled, so its posts fail). A frame route's response is never sent
//     to the client (no route responses are configured, as in Tripsense's
//     serverless.yml).
//   - Frame limits: a client message over 32 KB (MaxFrameBytes) closes the
//     connection with 1009, a binary message closes it with 1003; neither
//     reaches the handler.
//   - The @connections post rate (Options.PostRate, PostBurst): posts
//     beyond it answer 429 with a LimitExceededException, as API Gateway
//     does when the account's request rate is exceeded.
//
// Differences from API Gateway, on purpose: one process; no 2 h / 10 min
// limits; the 32 KB limit applies to a whole message, where API Gateway
// limits each frame and accepts fragmented messages up to 128 KB (clients
// send one frame per message); posted messages are not split into 32 KB
// frames; $disconnect waits for the frames of the connection that are
// still being handled; Go cannot kill a goroutine, so a handler that
// ignores its context keeps running after its timeout (its instance is
// never reused).
//
// Dynalite starts the DynamoDB-compatible test server of the repository's
// node_modules once per test process.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// MaxFrameBytes is API Gateway's WebSocket frame limit (32 KB): a client
// message over it closes the connection with 1009.
const MaxFrameBytes = 32 << 10

// MaxPostBytes is API Gateway's message payload limit (128 KB) for posts to
// a connection.
const MaxPostBytes = 128 << 10

// DefaultInstances is the pool size when Options.Instances is 0.
const DefaultInstances = 8

// Handler is a WebSocket API's Lambda handler.
type Handler func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// Stage is the API stage, the first path segment ("dev").
	Stage string
	// Routes are the named routes besides $connect, $disconnect and
	// $default (for Tripsense: sendMessage, markRead, sync, ping).
	Routes []string
	// TLS serves https/wss with a test certificate; use Server.HTTPClient
	// to trust it. The events' domainName then makes
	// https://{domainName}/{stage} a working management endpoint.
	TLS bool
	// NewHandler, when set, builds one Lambda instance: a handler with its
	// own process state (its own ws.Service, locks and caches). The server
	// keeps a pool of them, each serving one invocation at a time, and
	// New's handler argument is ignored (pass nil). Without it, New's
	// handler serves every invocation concurrently, as one instance with
	// unlimited concurrency, which Lambda never is.
	NewHandler func() Handler
	// Instances bounds the pool of NewHandler instances
	// (DefaultInstances).
	Instances int
	// InvokeTimeout is the integration timeout: the deadline of every
	// invocation's context, after which the invocation is abandoned (see
	// the package comment). Default 10 s; API Gateway's is 29 s, tests
	// scale it down.
	InvokeTimeout time.Duration
	// PostRate, when positive, bounds @connections POSTs to that many per
	// second (a token bucket holding PostBurst, default 1); posts beyond
	// it get 429 LimitExceededException.
	PostRate  float64
	PostBurst int
	// PostLatency delays every @connections POST (API Gateway's own
	// latency is a few milliseconds in a region), so that a test with a
	// scaled-down InvokeTimeout also has a scaled-down post budget.
	PostLatency time.Duration
	// Logf, when set, receives one line per invocation error.
	Logf func(format string, args ...any)
}

// Server is a running harness. Its fields are read-only.
type Server struct {
	// URL is the WebSocket URL of the stage: ws://127.0.0.1:PORT/dev
	// (wss:// with TLS).
	URL string
	// Endpoint is the management endpoint to use as the SDK client's
	// BaseEndpoint: http://127.0.0.1:PORT/dev (https:// with TLS).
	Endpoint string
	// DomainName is what events carry as requestContext.domainName.
	DomainName string
	// HTTPClient trusts the harness's certificate (TLS) or is a plain
	// client.
	HTTPClient *http.Client

	handler Handler
	opts    Options
	routes  map[string]bool
	srv     *httptest.Server
	reqSeq  atomic.Int64

	mu     sync.Mutex
	conns  map[string]*conn // open connections
	all    map[string]*conn // every accepted connection, for Done
	closed bool
	wg     sync.WaitGroup // connection goroutines

	posts, deletes, gones atomic.Int64
	throttled, timeouts   atomic.Int64

	pool    *pool
	limiter *rate.Limiter // nil: posts are not rate limited

	busyMu   sync.Mutex
	inflight int
	idle     chan struct{} // closed while no invocation runs
}

type conn struct {
	id          string
	sock        *websocket.Conn
	connectedAt time.Time
	sourceIP    string
	vanished    atomic.Bool
	frames      sync.WaitGroup
	ready       chan struct{} // closed once sock is set (or the handshake failed)
	done        chan struct{} // closed after the read loop and $disconnect
}

// socket waits for the handshake and returns the socket, or nil when the
// handshake failed. A connection is registered from the moment $connect
// accepted it, before its handshake response is written, so that a client
// that got its 101 finds it registered.
func (c *conn) socket() *websocket.Conn {
	<-c.ready
	return c.sock
}

// New starts a harness on 127.0.0.1 that invokes h. Close it when done.
func New(h Handler, opts Options) *Server {
	if opts.Stage == "" {
		opts.Stage = "dev"
	}
	if opts.InvokeTimeout <= 0 {
		opts.InvokeTimeout = 10 * time.Second
	}
	s := &Server{handler: h, opts: opts, routes: map[string]bool{}, conns: map[string]*conn{}, all: map[string]*conn{}, idle: make(chan struct{})}
	close(s.idle)
	if opts.NewHandler != nil {
		n := opts.Instances
		if n <= 0 {
			n = DefaultInstances
		}
		s.pool = &pool{build: opts.NewHandler, slots: make(chan struct{}, n)}
	}
	if opts.PostRate > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(opts.PostRate), max(1, opts.PostBurst))
	}
	for _, r := range opts.Routes {
		s.routes[r] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/"+opts.Stage+"/@connections/{id}", s.manage)
	mux.HandleFunc("GET /"+opts.Stage, s.accept)
	s.srv = httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("gateway: listen: %v", err))
	}
	s.srv.Listener = ln
	scheme, wsScheme := "http", "ws"
	if opts.TLS {
		s.srv.StartTLS()
		scheme, wsScheme = "https", "wss"
	} else {
		s.srv.Start()
	}
	s.DomainName = ln.Addr().String()
	s.URL = wsScheme + "://" + s.DomainName + "/" + opts.Stage
	s.Endpoint = scheme + "://" + s.DomainName + "/" + opts.Stage
	s.HTTPClient = s.srv.Client()
	return s
}

// Close closes every connection (1001, each gets its $disconnect), waits
// for their invocations and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		if sock := c.socket(); sock != nil {
			_ = sock.Close(websocket.StatusGoingAway, "gateway shutting down")
		}
	}
	s.wg.Wait()
	s.srv.Close()
}

// Connections returns the ids of the open connections.
func (s *Server) Connections() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.conns))
	for id := range s.conns {
		ids = append(ids, id)
	}
	return ids
}

// Vanish drops a connection as a network failure would that API Gateway
// has noticed but not yet reported: the socket closes, posts to it get
// 410, and no $disconnect is ever invoked for it. It reports whether the
// connection existed.
func (s *Server) Vanish(id string) bool {
	s.mu.Lock()
	c := s.conns[id]
	delete(s.conns, id)
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.vanished.Store(true)
	if sock := c.socket(); sock != nil {
		_ = sock.CloseNow()
	}
	return true
}

// Stats returns how many management posts were delivered, how many
// connections were deleted, and how many management calls got 410.
func (s *Server) Stats() (posts, deletes, gones int64) {
	return s.posts.Load(), s.deletes.Load(), s.gones.Load()
}

// Throttled returns how many management posts got 429 because of
// Options.PostRate.
func (s *Server) Throttled() int64 { return s.throttled.Load() }

// Timeouts returns how many invocations ran past InvokeTimeout and were
// abandoned.
func (s *Server) Timeouts() int64 { return s.timeouts.Load() }

// Instances returns how many handler instances the pool has built (0
// without Options.NewHandler).
func (s *Server) Instances() int {
	if s.pool == nil {
		return 0
	}
	return int(s.pool.built.Load())
}

// ConnectionIDHeader is set on the handshake response to the connection's
// id, so tests can name a client's connection.
const ConnectionIDHeader = "X-Gateway-Connection-Id"

func newConnID() string {
	var b [11]byte // 16 base64 characters ending in '=', like API Gateway's
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// requestContext is the part of every event that names the API and the
// connection.
func (s *Server) requestContext(c *conn, routeKey, eventType string, now time.Time) events.APIGatewayWebsocketProxyRequestContext {
	n := s.reqSeq.Add(1)
	return events.APIGatewayWebsocketProxyRequestContext{
		RouteKey:          routeKey,
		EventType:         eventType,
		ExtendedRequestID: "ext-" + strconv.FormatInt(n, 10),
		RequestID:         "req-" + strconv.FormatInt(n, 10),
		RequestTime:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		RequestTimeEpoch:  now.UnixMilli(),
		MessageDirection:  "IN",
		Stage:             s.opts.Stage,
		ConnectedAt:       c.connectedAt.UnixMilli(),
		Identity:          events.APIGatewayRequestIdentity{SourceIP: c.sourceIP},
		DomainName:        s.DomainName,
		ConnectionID:      c.id,
		APIID:             "harness",
	}
}

// WaitIdle waits until no invocation is running (every frame sent so far
// has been handled, with all its posts written), or ctx ends.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		s.busyMu.Lock()
		idle, n := s.idle, s.inflight
		s.busyMu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) busy(delta int) {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	s.inflight += delta
	switch {
	case delta > 0 && s.inflight == delta:
		s.idle = make(chan struct{})
	case delta < 0 && s.inflight == 0:
		close(s.idle)
	}
}

// errTimeout is what an abandoned invocation returns to the gateway.
var errTimeout = errors.New("Endpoint request timed out")

// invoke runs one invocation on an instance and waits for it, at most until
// the integration timeout. It must be called after busy(1); the busy count
// drops when the handler really returns, so WaitIdle also waits for an
// abandoned handler.
func (s *Server) invoke(req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.InvokeTimeout)
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "lambda-" + req.RequestContext.RequestID})
	h, inst := s.handler, (*instance)(nil)
	if s.pool != nil {
		var err error
		if inst, err = s.pool.acquire(ctx); err != nil {
			cancel()
			s.busy(-1)
			s.timeouts.Add(1)
			s.logf("gateway: %s on %s: no instance before the timeout", req.RequestContext.RouteKey, req.RequestContext.ConnectionID)
			return events.APIGatewayProxyResponse{}, errTimeout
		}
		h = inst.h
	}
	type result struct {
		resp events.APIGatewayProxyResponse
		err  error
	}
	var timedOut atomic.Bool // counted once, by whoever sees it first
	timeout := func() {
		if timedOut.CompareAndSwap(false, true) {
			s.timeouts.Add(1)
			s.logf("gateway: %s on %s: timed out after %v", req.RequestContext.RouteKey, req.RequestContext.ConnectionID, s.opts.InvokeTimeout)
		}
	}
	done := make(chan result, 1)
	go func() {
		defer s.busy(-1)
		resp, err := h(ctx, req)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			timeout()
		}
		done <- result{resp, err}
		cancel()
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// The deadline, or the handler's end (cancel runs after it sent
		// its result).
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r = <-done
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Lambda kills the instance at the deadline, whatever the handler
		// returns: it never serves again, and what the handler does from
		// now on reaches nobody (its context is done).
		timeout()
		if inst != nil {
			s.pool.release(inst, false)
		}
		return events.APIGatewayProxyResponse{}, errTimeout
	}
	if inst != nil {
		s.pool.release(inst, true)
	}
	if r.err != nil {
		s.logf("gateway: %s on %s: handler error: %v", req.RequestContext.RouteKey, req.RequestContext.ConnectionID, r.err)
	}
	return r.resp, r.err
}

// pool holds the Lambda instances of Options.NewHandler.
type pool struct {
	build func() Handler
	slots chan struct{} // one token per instance in use or idle-capable

	mu    sync.Mutex
	idle  []*instance
	built atomic.Int64
}

type instance struct{ h Handler }

// acquire returns an idle instance, or builds one while fewer than the
// pool's size serve, or waits for one until ctx ends.
func (p *pool) acquire(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return inst, nil
	}
	p.built.Add(1)
	return &instance{h: p.build()}, nil
}

// release returns inst to the pool, or drops it (a killed instance).
func (p *pool) release(inst *instance, reuse bool) {
	if reuse {
		p.mu.Lock()
		p.idle = append(p.idle, inst)
		p.mu.Unlock()
	}
	<-p.slots
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "gateway closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	c := &conn{id: newConnID(), connectedAt: time.Now(), sourceIP: host, ready: make(chan struct{}), done: make(chan struct{})}
	req := events.APIGatewayWebsocketProxyRequest{
		Headers:                         map[string]string{},
		MultiValueHeaders:               map[string][]string(r.Header.Clone()),
		QueryStringParameters:           map[string]string{},
		MultiValueQueryStringParameters: map[string][]string(r.URL.Query()),
		RequestContext:                  s.requestContext(c, "$connect", "CONNECT", c.connectedAt),
	}
	for k, v := range r.Header {
		req.Headers[k] = v[len(v)-1]
	}
	// API Gateway passes the Host too (net/http keeps it apart).
	req.Headers["Host"] = r.Host
	req.MultiValueHeaders["Host"] = []string{r.Host}
	for k, v := range r.URL.Query() {
		req.QueryStringParameters[k] = v[len(v)-1]
	}
	if len(req.QueryStringParameters) == 0 {
		req.QueryStringParameters, req.MultiValueQueryStringParameters = nil, nil
	}
	s.busy(1)
	resp, err := s.invoke(req)
	switch {
	case errors.Is(err, errTimeout):
		// No connection was established, so no $disconnect follows (as in
		// AWS), whatever the abandoned $connect registered.
		http.Error(w, `{"message": "Endpoint request timed out"}`, http.StatusGatewayTimeout)
		return
	case err != nil:
		http.Error(w, `{"message": "Internal server error"}`, http.StatusBadGateway)
		return
	case resp.StatusCode != http.StatusOK:
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write([]byte(resp.Body))
		return
	}
	w.Header().Set(ConnectionIDHeader, c.id)
	s.mu.Lock()
	s.conns[c.id] = c
	s.all[c.id] = c
	s.mu.Unlock()
	// API Gateway answers the subprotocol only when $connect's answer
	// names it (a browser that offered one then fails the handshake
	// without it). It checks no Origin: the function does.
	var protos []string
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
			protos = append(protos, v)
		}
	}
	sock, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: protos})
	if err != nil {
		close(c.ready)
		s.mu.Lock()
		delete(s.conns, c.id)
		s.mu.Unlock()
		s.disconnect(c, 1006, "handshake failed")
		close(c.done)
		return
	}
	sock.SetReadLimit(MaxFrameBytes) // over it: close 1009, as API Gateway
	c.sock = sock
	close(c.ready)
	s.mu.Lock()
	closing := s.closed
	s.mu.Unlock()
	if closing {
		_ = sock.CloseNow() // Close ran during the handshake
	}
	s.readLoop(c)
}

// routeFor selects the route like $request.body.action.
func (s *Server) routeFor(data []byte) string {
	var body struct {
		Action any `json:"action"`
	}
	if json.Unmarshal(data, &body) != nil {
		return "$default"
	}
	if a, ok := body.Action.(string); ok && s.routes[a] {
		return a
	}
	return "$default"
}

func (s *Server) readLoop(c *conn) {
	code, reason := int64(1005), "Client-side close frame status not set"
	for {
		typ, data, err := c.sock.Read(context.Background())
		if err != nil {
			if st := websocket.CloseStatus(err); st != -1 {
				code, reason = int64(st), "Client-side close frame status "+strconv.Itoa(int(st))
			} else if strings.Contains(err.Error(), "read limited at") {
				// coder/websocket closed it with 1009 (SetReadLimit).
				code, reason = int64(websocket.StatusMessageTooBig), "Message too big"
			} else {
				code, reason = 1006, "Going away"
			}
			break
		}
		if typ == websocket.MessageBinary {
			// API Gateway WebSocket APIs take text frames only.
			_ = c.sock.Close(websocket.StatusUnsupportedData, "Binary frames are not supported")
			code, reason = int64(websocket.StatusUnsupportedData), "Binary frames are not supported"
			break
		}
		req := events.APIGatewayWebsocketProxyRequest{
			RequestContext: s.requestContext(c, s.routeFor(data), "MESSAGE", time.Now()),
			Body:           string(data),
		}
		req.RequestContext.MessageID = "msg-" + req.RequestContext.RequestID
		c.frames.Add(1)
		s.busy(1)
		go func() {
			defer c.frames.Done()
			_, _ = s.invoke(req)
		}()
	}
	c.frames.Wait()
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
	_ = c.sock.CloseNow()
	if !c.vanished.Load() {
		s.disconnect(c, code, reason)
	}
	close(c.done)
}

// Done returns a channel that is closed once the connection id has closed
// and its $disconnect invocation (if any) has returned; nil for an id the
// harness never accepted.
func (s *Server) Done(id string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.all[id]; c != nil {
		return c.done
	}
	return nil
}

func (s *Server) disconnect(c *conn, code int64, reason string) {
	req := events.APIGatewayWebsocketProxyRequest{
		Headers:        map[string]string{"Host": s.DomainName},
		RequestContext: s.requestContext(c, "$disconnect", "DISCONNECT", time.Now()),
	}
	req.RequestContext.DisconnectStatusCode = code
	req.RequestContext.DisconnectReason = &reason
	s.busy(1)
	_, _ = s.invoke(req)
}

func (s *Server) lookup(id string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// apiError answers like API Gateway's management API: the error type in
// X-Amzn-ErrorType and a JSON body.
func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"message": msg})
	_, _ = w.Write(b)
}

func (s *Server) manage(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		apiError(w, http.StatusForbidden, "ForbiddenException", "Missing Authentication Token")
		return
	}
	id := r.PathValue("id")
	c := s.lookup(id)
	if c != nil && c.socket() == nil {
		c = nil // the handshake failed
	}
	if c == nil {
		s.gones.Add(1)
		apiError(w, http.StatusGone, "GoneException", "")
		return
	}
	switch r.Method {
	case http.MethodPost:
		if s.limiter != nil && !s.limiter.Allow() {
			s.throttled.Add(1)
			apiError(w, http.StatusTooManyRequests, "LimitExceededException", "Rate exceeded")
			return
		}
		if d := s.opts.PostLatency; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPostBytes))
		if err != nil {
			apiError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Message too long")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := c.sock.Write(ctx, websocket.MessageText, data); err != nil {
			s.gones.Add(1)
			apiError(w, http.StatusGone, "GoneException", "")
			return
		}
		s.posts.Add(1)
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		s.deletes.Add(1)
		// Closing makes the read loop end, which invokes $disconnect.
		go func() { _ = c.sock.Close(websocket.StatusNormalClosure, "") }()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"connectedAt":  c.connectedAt.UTC().Format(time.RFC3339),
			"identity":     map[string]string{"sourceIp": c.sourceIP},
			"lastActiveAt": time.Now().UTC().Format(time.RFC3339),
		})
	default:
		apiError(w, http.StatusMethodNotAllowed, "BadRequestException", "method not allowed")
	}
}

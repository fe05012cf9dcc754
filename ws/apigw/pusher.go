package apigw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// ManagementAPI is the part of *apigatewaymanagementapi.Client the Pusher
// uses.
type ManagementAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

var _ ManagementAPI = (*apigatewaymanagementapi.Client)(nil)

// Clients hands out one ManagementAPI per endpoint. New builds the client
// for an endpoint the first time it is asked for; every later call reuses
// it, so a warm Lambda process keeps its HTTP connections to API Gateway.
// Safe for concurrent use.
type Clients struct {
	// New builds the client of one endpoint (https://{domain}/{stage}).
	New func(endpoint string) ManagementAPI

	mu sync.Mutex
	m  map[string]ManagementAPI
}

// Get returns the client of endpoint, building it on first use.
func (c *Clients) Get(endpoint string) ManagementAPI {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.m[endpoint]; ok {
		return cl
	}
	if c.m == nil {
		c.m = make(map[string]ManagementAPI)
	}
	cl := c.New(endpoint)
	c.m[endpoint] = cl
	return cl
}

// Len returns how many clients were built.
func (c *Clients) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

type endpointKey struct{}

// WithEndpoint returns ctx carrying the management endpoint of the API the
// current event came from; Handler sets it, Pusher reads it.
func WithEndpoint(ctx context.Context, endpoint string) context.Context {
	return context.WithValue(ctx, endpointKey{}, endpoint)
}

// EndpointFrom returns the endpoint set by WithEndpoint, or "".
func EndpointFrom(ctx context.Context) string {
	s, _ := ctx.Value(endpointKey{}).(string)
	return s
}

// EndpointFor returns the management endpoint of a WebSocket API as API
// Gateway names it in every event: https://{domainName}/{stage}. It returns
// "" when domain is empty.
func EndpointFor(domain, stage string) string {
	if domain == "" {
		return ""
	}
	if stage == "" {
		return "https://" + domain
	}
	return "https://" + domain + "/" + stage
}

// Defaults for Pusher.
const (
	DefaultPushTimeout  = 5 * time.Second
	DefaultPushAttempts = 3
	DefaultPushBackoff  = 50 * time.Millisecond
)

// Pusher is a tripsense.Pusher over the API Gateway Management API.
//
// Push posts the frame (PostToConnection). A connection API Gateway no
// longer knows (GoneException, HTTP 410) gives tripsense.ErrGone. Throttling
// (LimitExceededException, HTTP 429: API Gateway's account-wide request
// rate, which posts share) is retried up to MaxAttempts in all, with
// exponential backoff and full jitter (at most 1 s a pause), never pausing
// past the push's deadline; after that the frame counts as not delivered
// (ERATELIMITED), and the connection stays: throttling is never "gone". Every push, retries included, is bounded by
// Timeout. The SDK's own retries are switched off for these calls so that
// the bound is exactly this one. After a successful post of a frame that
// carries a stored message (Outbound.Index > 0) Push reports the delivery
// with Presence.Delivered (Presence.SeenThrough for a batch that says
// Outbound.Through); a failed report is logged and only keeps the
// watermark lower, which is safe. Outbound.Wait changes nothing here: a
// post returns once API Gateway has the frame.
//
// Close deletes the connection (DeleteConnection). API Gateway closes the
// socket with its own close frame: the code and reason are not sent.
//
// The fields are set once before use; after that it is safe for concurrent
// use.
type Pusher struct {
	// Clients builds and caches the Management API client per endpoint.
	Clients *Clients
	// Endpoint, when set, is used for every call (a custom domain, or the
	// HTTP API function that has no WebSocket event). Otherwise the
	// endpoint comes from the context (WithEndpoint).
	Endpoint string
	// Presence receives the delivery reports.
	Presence tripsense.Presence
	// Timeout bounds one Push or Close, retries included
	// (DefaultPushTimeout).
	Timeout time.Duration
	// MaxAttempts bounds the posts of one throttled Push
	// (DefaultPushAttempts).
	MaxAttempts int
	// Backoff is the first pause after a throttled post; it doubles on
	// every attempt (DefaultPushBackoff).
	Backoff time.Duration
	// Log receives failed delivery reports. Nil discards.
	Log *slog.Logger
}

var _ tripsense.Pusher = (*Pusher)(nil)

func (p *Pusher) client(ctx context.Context) (ManagementAPI, error) {
	ep := p.Endpoint
	if ep == "" {
		ep = EndpointFrom(ctx)
	}
	if ep == "" {
		return nil, tripsense.Wrap(tripsense.EINTERNAL, errors.New("apigw: no management endpoint: set Pusher.Endpoint or handle the call inside a WebSocket event"), "push failed")
	}
	return p.Clients.Get(ep), nil
}

func (p *Pusher) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultPushTimeout
}

// noSDKRetries makes one SDK call a single attempt: the Pusher owns the
// retry policy.
func noSDKRetries(o *apigatewaymanagementapi.Options) { o.RetryMaxAttempts = 1 }

// Push implements tripsense.Pusher.
func (p *Pusher) Push(ctx context.Context, connID string, out tripsense.Outbound) error {
	cl, err := p.client(ctx)
	if err != nil {
		return err
	}
	attempts := p.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultPushAttempts
	}
	backoff := p.Backoff
	if backoff <= 0 {
		backoff = DefaultPushBackoff
	}
	pctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	in := &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &connID, Data: out.Data}
	for attempt := 1; ; attempt++ {
		_, err = cl.PostToConnection(pctx, in, noSDKRetries)
		if err == nil {
			break
		}
		var limited *types.LimitExceededException
		if !errors.As(err, &limited) || attempt >= attempts {
			return pushError("post to connection "+connID, err, attempt)
		}
		// A pause that would end past the deadline (the push timeout or
		// the invocation's) is not taken: the push gives up now, so the
		// caller keeps the rest of its time (a sync still sends its synced
		// frame). Throttling is never taken for a gone connection.
		d := rand.N(min(backoff<<(attempt-1), maxBackoff)) + 1
		if dl, ok := pctx.Deadline(); ok && time.Until(dl) < d {
			return pushError("post to connection "+connID, err, attempt)
		}
		if werr := pause(pctx, d); werr != nil {
			return pushError("post to connection "+connID, err, attempt)
		}
	}
	if out.Index > 0 && p.Presence != nil {
		report := p.Presence.Delivered
		if out.Through {
			report = p.Presence.SeenThrough
		}
		if err := report(ctx, connID, out.Room, out.Index); err != nil {
			p.log().Warn("delivery report failed", "conn", connID, "room", out.Room, "index", out.Index, "err", err)
		}
	}
	return nil
}

// Close implements tripsense.Pusher with DeleteConnection. code and reason
// cannot be sent through API Gateway.
func (p *Pusher) Close(ctx context.Context, connID string, code int, reason string) error {
	cl, err := p.client(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	// API Gateway closes a deleted connection with a close code of its own:
	// tell the client the real one first (best effort: a connection that is
	// already gone or throttled is deleted all the same).
	if code != 0 {
		_, perr := cl.PostToConnection(cctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &connID, Data: ws.ClosingFrame(code, reason)})
		if perr != nil {
			p.log().Debug("closing frame not posted", "conn", connID, "code", code, "err", perr)
		}
	}
	_, err = cl.DeleteConnection(cctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &connID})
	if err != nil {
		return pushError("delete connection "+connID, err, 1)
	}
	p.log().Debug("connection deleted", "conn", connID, "code", code, "reason", reason)
	return nil
}

func (p *Pusher) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

// pushError maps a Management API error to the application's kinds: gone,
// throttled (not delivered), too large, or internal. The SDK error stays in
// the chain for the log.
func pushError(op string, err error, attempts int) error {
	var (
		gone    *types.GoneException
		limited *types.LimitExceededException
		large   *types.PayloadTooLargeException
	)
	cause := fmt.Errorf("apigw: %s (%d attempts): %w", op, attempts, err)
	switch {
	case errors.As(err, &gone):
		// Both errors.Is(err, tripsense.ErrGone) and ErrorCode see it.
		return fmt.Errorf("%w: %w", tripsense.ErrGone, cause)
	case errors.As(err, &limited):
		return tripsense.Wrap(tripsense.ERATELIMITED, cause, "not delivered: API Gateway throttled the connection")
	case errors.As(err, &large):
		return tripsense.Wrap(tripsense.ETOOLARGE, cause, "frame too large for API Gateway")
	}
	return tripsense.Wrap(tripsense.EINTERNAL, cause, "push failed")
}

// maxBackoff caps one pause between throttled posts.
const maxBackoff = time.Second

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

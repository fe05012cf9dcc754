package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// loopbackDial dials like net.Dialer but refuses a peer that is not a
// loopback address, whatever "localhost" resolved to.
func loopbackDial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = c.Close()
		return nil, fmt.Errorf("refusing non-loopback peer %v", c.RemoteAddr())
	}
	return c, nil
}

// newHTTPClient returns a client that keeps up to conns idle connections
// and dials loopback only.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext:         loopbackDial,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// newDialClient is the HTTP client of WebSocket dials: every dial is its
// own TCP connection (the socket is hijacked), so nothing is pooled.
func newDialClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:       loopbackDial,
			DisableKeepAlives: true,
		},
	}
}

// limitsHint follows a 429 of the server, to an HTTP request or a
// WebSocket upgrade: its limits per client address are in the way of a
// benchmark, whose connections all come from one address (it names them
// all, so that the next refusal does not come from another).
const limitsHint = " (server limits per address: start it with --http-rate 0 --connect-rate 0 --max-connections-per-ip 0 for benchmarks)"

// httpError is a non-2xx answer of the server.
type httpError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *httpError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusTooManyRequests:
		hint = limitsHint
	case http.StatusForbidden, http.StatusUnauthorized:
		hint = " (the bench needs dev identity mode and an admin user: see --admin and the server's --admins)"
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s%s", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body), hint)
}

// doJSON performs a request as user and returns the body of a 2xx answer.
// A status listed in okAlso counts as success too.
func doJSON(ctx context.Context, hc *http.Client, method, u, user string, body any, okAlso ...int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if user != "" {
		req.Header.Set("X-User-Id", user)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, u, err)
	}
	ok := resp.StatusCode/100 == 2
	for _, s := range okAlso {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		if len(data) > 300 {
			data = data[:300]
		}
		return nil, &httpError{Method: method, URL: u, Status: resp.StatusCode, Body: string(data)}
	}
	return data, nil
}

// checkHealth asks GET /healthz once.
func checkHealth(ctx context.Context, hc *http.Client, t target) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := doJSON(ctx, hc, http.MethodGet, t.HTTP+"/healthz", "", nil); err != nil {
		return fmt.Errorf("server at %s is not healthy (is it running?): %w", t.HTTP, err)
	}
	return nil
}

// membership is one (room, user) pair to set up.
type membership struct{ Room, User string }

// addMembers adds every pair with the admin API, parallel workers at a time.
// An existing membership (409) is fine.
func addMembers(ctx context.Context, hc *http.Client, t target, admin string, pairs []membership, parallel int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan membership)
	errc := make(chan error, parallel)
	for range parallel {
		go func() {
			var first error
			for m := range work {
				if first != nil {
					continue
				}
				u := t.HTTP + "/v1/rooms/" + url.PathEscape(m.Room) + "/members"
				if _, err := doJSON(ctx, hc, http.MethodPost, u, admin, map[string]string{"userId": m.User}, http.StatusConflict); err != nil {
					first = fmt.Errorf("add %s to %s: %w", m.User, m.Room, err)
					cancel()
				}
			}
			errc <- first
		}()
	}
	func() {
		defer close(work)
		for _, m := range pairs {
			select {
			case work <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	for range parallel {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return ctx.Err()
}

// dialWS opens a WebSocket as user (dev identity).
func dialWS(ctx context.Context, hc *http.Client, t target, user string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, t.WS+"?userId="+url.QueryEscape(user), &websocket.DialOptions{
		HTTPClient:      hc,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil {
			hint := ""
			if resp.StatusCode == http.StatusTooManyRequests {
				hint = limitsHint
			}
			return nil, fmt.Errorf("dial %s as %s: HTTP %d: %w%s", t.WS, user, resp.StatusCode, err, hint)
		}
		return nil, fmt.Errorf("dial %s as %s: %w", t.WS, user, err)
	}
	c.SetReadLimit(4 << 20)
	return c, nil
}

// dialAll opens one connection per user, parallel at a time. On error it
// closes what it opened.
func dialAll(ctx context.Context, hc *http.Client, t target, users []string, parallel int, onOpen func(i int, c *websocket.Conn)) error {
	return dialEach(ctx, users, parallel, func(ctx context.Context, user string) (*websocket.Conn, error) {
		return dialWS(ctx, hc, t, user)
	}, (*websocket.Conn).CloseNow, onOpen)
}

// dialAllRaw is dialAll with the fan-out engine's client (rawConn).
func dialAllRaw(ctx context.Context, t target, users []string, parallel int, onOpen func(i int, c *rawConn)) error {
	return dialEach(ctx, users, parallel, func(ctx context.Context, user string) (*rawConn, error) {
		return dialRaw(ctx, t, user)
	}, (*rawConn).CloseNow, onOpen)
}

// dialEach opens one connection per user with dial, parallel at a time,
// then hands each to onOpen in order. On error it closes what it opened.
func dialEach[C comparable](ctx context.Context, users []string, parallel int, dial func(context.Context, string) (C, error), closeNow func(C) error, onOpen func(i int, c C)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var none C
	conns := make([]C, len(users))
	work := make(chan int)
	errc := make(chan error, parallel)
	for range parallel {
		go func() {
			var first error
			for i := range work {
				if first != nil {
					continue
				}
				c, err := dial(ctx, users[i])
				if err != nil {
					first = err
					cancel()
					continue
				}
				conns[i] = c
			}
			errc <- first
		}()
	}
	func() {
		defer close(work)
		for i := range users {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var first error
	for range parallel {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		for _, c := range conns {
			if c != none {
				_ = closeNow(c)
			}
		}
		return first
	}
	for i, c := range conns {
		onOpen(i, c)
	}
	return nil
}

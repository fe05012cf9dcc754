package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// Defaults for Server.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultPingTimeout  = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	// frameTimeout bounds the handling of one client frame (store calls).
	frameTimeout = 30 * time.Second
)

// Server upgrades GET /ws?userId=… (dev identity) or ?token=… (token
// identity) to a WebSocket and runs the ws use cases for it.
type Server struct {
	Service *ws.Service
	Hub     *Hub
	Auth    tripsense.Authenticator
	Log     *slog.Logger
	// OriginPatterns are extra allowed browser origins (see
	// websocket.AcceptOptions); same-origin and non-browser clients are
	// always allowed.
	OriginPatterns []string
	PingInterval   time.Duration
	PingTimeout    time.Duration
	WriteTimeout   time.Duration

	wg sync.WaitGroup
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Wait blocks until every connection handler has returned (after
// Hub.CloseAll during shutdown) or ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func writeHTTPError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"code": tripsense.ErrorCode(err), "message": tripsense.ErrorMessage(err),
	}})
}

func newConnID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ServeHTTP implements the WebSocket endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	q := r.URL.Query()
	p, err := s.Auth.Authenticate(r.Context(), tripsense.Credentials{UserID: q.Get("userId"), Token: q.Get("token")})
	if err != nil {
		writeHTTPError(w, http.StatusUnauthorized, err)
		return
	}
	// Store calls outlive the request's context: a frame that was accepted
	// is finished even while the server shuts down.
	base := context.WithoutCancel(r.Context())
	info := tripsense.Connection{ID: newConnID(), UserID: p.UserID, ConnectedAt: time.Now().UTC()}
	if err := s.Service.Connect(base, info); err != nil {
		switch tripsense.ErrorCode(err) {
		case tripsense.ECONFLICT:
			writeHTTPError(w, http.StatusConflict, err)
		case tripsense.EINVALID:
			writeHTTPError(w, http.StatusBadRequest, err)
		case tripsense.ERATELIMITED:
			writeHTTPError(w, http.StatusTooManyRequests, err)
		default:
			s.log().Error("connect", "user", p.UserID, "err", err)
			writeHTTPError(w, http.StatusInternalServerError, err)
		}
		return
	}
	c := s.Hub.get(info.ID)
	sock, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.OriginPatterns})
	if err != nil || c == nil {
		s.disconnect(base, info)
		return
	}
	sock.SetReadLimit(tripsense.HardFrameBytes)
	s.log().Info("connected", "conn", info.ID, "user", info.UserID)

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(base, c, sock)
	}()
	self := ws.Conn{ID: info.ID, UserID: info.UserID}
	for {
		_, data, err := sock.Read(base)
		if err != nil {
			if status := websocket.CloseStatus(err); status == -1 && !errors.Is(err, context.Canceled) {
				s.log().Debug("read", "conn", info.ID, "err", err)
			}
			break
		}
		fctx, cancel := context.WithTimeout(base, frameTimeout)
		herr := s.Service.Handle(fctx, self, data)
		cancel()
		if herr != nil {
			break // the connection is gone
		}
	}
	s.disconnect(base, info)
	c.close(CloseCodeRemoved, "connection removed")
	<-writerDone
	s.log().Info("disconnected", "conn", info.ID, "user", info.UserID)
}

func (s *Server) disconnect(ctx context.Context, info tripsense.Connection) {
	dctx, cancel := context.WithTimeout(ctx, frameTimeout)
	defer cancel()
	if err := s.Service.Disconnect(dctx, info.ID); err != nil {
		s.log().Error("disconnect", "conn", info.ID, "user", info.UserID, "err", err)
	}
}

// writeLoop is the connection's only writer: it drains the queue, records
// each delivered message in the connection's watermark, pings the peer, and
// closes the socket with the close code once the connection is closing.
func (s *Server) writeLoop(ctx context.Context, c *conn, sock *websocket.Conn) {
	ping := time.NewTicker(orDefault(s.PingInterval, DefaultPingInterval))
	defer ping.Stop()
	writeTimeout := orDefault(s.WriteTimeout, DefaultWriteTimeout)
	for {
		batch, closing, code, reason := c.take()
		if closing {
			_ = sock.Close(websocket.StatusCode(code), reason)
			return
		}
		if len(batch) == 0 {
			select {
			case <-c.wake:
			case <-c.done:
			case <-ping.C:
				go s.ping(ctx, c, sock)
			}
			continue
		}
		// One deadline per batch: a peer that accepts nothing for
		// writeTimeout is dropped; one that is merely slow is bounded by the
		// queue limit instead.
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		for i := range batch {
			if err := sock.Write(wctx, websocket.MessageText, batch[i].Data); err != nil {
				cancel()
				c.close(CloseCodeRemoved, "write failed")
				_ = sock.CloseNow()
				return
			}
			if batch[i].Index > 0 {
				c.delivered(batch[i].Room, batch[i].Index)
			}
			batch[i] = tripsense.Outbound{}
		}
		cancel()
		signal(c.space)
	}
}

// ping finds dead peers: no pong within the timeout closes the connection.
func (s *Server) ping(ctx context.Context, c *conn, sock *websocket.Conn) {
	pctx, cancel := context.WithTimeout(ctx, orDefault(s.PingTimeout, DefaultPingTimeout))
	defer cancel()
	if err := sock.Ping(pctx); err != nil {
		s.log().Info("ping failed; closing", "conn", c.info.ID, "err", err)
		c.close(CloseCodeRemoved, "ping timeout")
		_ = sock.CloseNow()
	}
}

package local

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/tripsense/tripsense"
	wscore "github.com/tripsense/tripsense/ws"
)

// Defaults for Server.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultPingTimeout  = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	// frameTimeout bounds the handling of one client frame (store calls).
	frameTimeout = 30 * time.Second
	// closeGrace is how long the server waits for the peer's close frame.
	closeGrace = 2 * time.Second
	// readBufferSize is the per-connection read buffer: frame headers and
	// small frames; larger payloads are read straight into the message.
	readBufferSize = 512
	// writeBufferSize is the buffer a batch of frames is encoded into; it
	// is taken from a pool only while a connection has something to write.
	writeBufferSize = 32 << 10
)

// Server upgrades GET /ws?userId=… (dev identity) or ?token=… (token
// identity), with an optional &deviceId=…, to a WebSocket and runs the ws
// use cases for it. In token identity mode a request with neither is
// upgraded too and must authenticate with its first frame
// (ws.Service.CheckFirstFrame).
//
// Browsers: the Origin must be allowed (Origins), the subprotocol
// tripsense.v1 is selected when offered, and a request from a browser (an
// Origin header, or the subprotocol offered) that is refused after its
// handshake was found valid (401, 409, 429, 400 for an invalid user, 500)
// is upgraded and closed at once with ws.RefusalClose's code and reason,
// which a browser can read, instead of an HTTP status it shows as 1006.
//
// The WebSocket framing is github.com/gobwas/ws: it lets the writer encode
// a whole batch of queued frames into one buffer and send it with one
// write(2), where a per-message API costs one system call per delivered
// message (docs/benchmarks.md has the numbers).
type Server struct {
	Service *wscore.Service
	Hub     *Hub
	Auth    tripsense.Authenticator
	Log     *slog.Logger
	// Origins are the browser origins allowed besides the same origin
	// (--allowed-origins); requests without Origin (not a browser) are
	// always allowed. tripsense.Origins.AllowsWebSocket is the rule.
	Origins      tripsense.Origins
	PingInterval time.Duration
	PingTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxInFlightSends and MaxInFlightBytes bound the sendMessage frames
	// of one connection read but not yet answered (ws.Pipeline; 0 means
	// ws.DefaultMaxInFlightSends and ws.DefaultMaxInFlightBytes).
	MaxInFlightSends int
	MaxInFlightBytes int
	// ConnectRate bounds the upgrades one client address may start per
	// minute (a sliding window); one over it is refused with 429
	// rate_limited and Retry-After (a browser's with close code 4429),
	// before its credentials are checked. 0 means no bound.
	ConnectRate int
	// OnConnectLimited, when set, runs for each upgrade refused over
	// ConnectRate (metrics).
	OnConnectLimited func()

	connects    connectLimit
	wg          sync.WaitGroup
	afterWrite  func()        // tests: runs after a batch was written, before it is recorded
	authTimeout time.Duration // tests: replaces ws.AuthTimeout
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

// writeHTTPError refuses an upgrade. The connection is closed after the
// answer, so an unread request body is never waited for.
func writeHTTPError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"code": tripsense.ErrorCode(err), "message": tripsense.ErrorMessage(err),
	}})
}

// clientVersion is what a client says it is, for the connected log line:
// X-Client-Version if given, else its User-Agent, at most 100 printable
// ASCII characters.
func clientVersion(r *http.Request) string {
	v := r.Header.Get("X-Client-Version")
	if v == "" {
		v = r.UserAgent()
	}
	v = strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e {
			return -1
		}
		return c
	}, v)
	return v[:min(len(v), 100)]
}

func newConnID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkHandshake rejects requests that are not a WebSocket upgrade
// (RFC 6455 section 4.2.1) before anything else happens. It is at least as
// strict as ws.UpgradeHTTP, which runs after the duplicate-connection
// policy: whatever passes here is upgraded, so a request refused later can
// never have closed the user's live connection. Headers that the upgrade
// reads once must be given once (UpgradeHTTP reads only the first line).
func checkHandshake(r *http.Request) error {
	h := r.Header
	switch {
	case r.Method != http.MethodGet:
		return tripsense.Errorf(tripsense.EINVALID, "a WebSocket handshake is a GET")
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return tripsense.Errorf(tripsense.EINVALID, "a WebSocket handshake needs HTTP/1.1")
	case r.Host == "":
		return tripsense.Errorf(tripsense.EINVALID, "a WebSocket handshake needs a Host")
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
		return tripsense.Errorf(tripsense.EINVALID, "a WebSocket handshake has no body")
	case len(h.Values("Upgrade")) != 1 || !strings.EqualFold(h.Get("Upgrade"), "websocket"):
		return tripsense.Errorf(tripsense.EINVALID, "this endpoint speaks WebSocket: send one Upgrade: websocket header (no other protocol) and Connection: Upgrade")
	case len(h.Values("Connection")) != 1 || !tokenListHas(h.Get("Connection"), "upgrade"):
		return tripsense.Errorf(tripsense.EINVALID, "this endpoint speaks WebSocket: send one Connection header listing Upgrade")
	case len(h.Values("Sec-WebSocket-Version")) != 1 || h.Get("Sec-WebSocket-Version") != "13":
		return tripsense.Errorf(tripsense.EINVALID, "Sec-WebSocket-Version must be 13, given once")
	case len(h.Values("Sec-WebSocket-Key")) != 1 || !validKey(h.Get("Sec-WebSocket-Key")):
		return tripsense.Errorf(tripsense.EINVALID, "Sec-WebSocket-Key is missing, repeated or malformed")
	}
	_, err := tripsense.SelectSubprotocol(h.Values("Sec-WebSocket-Protocol"))
	return err
}

// Upgraders: without a subprotocol, and selecting tripsense.v1 (which
// checkHandshake found offered).
var (
	plainUpgrader = ws.HTTPUpgrader{}
	protoUpgrader = ws.HTTPUpgrader{Protocol: func(p string) bool { return p == tripsense.Subprotocol }}
)

func upgrade(r *http.Request, w http.ResponseWriter, proto string) (net.Conn, *bufio.ReadWriter, error) {
	u := plainUpgrader
	if proto != "" {
		u = protoUpgrader
	}
	conn, rw, _, err := u.Upgrade(r, w)
	return conn, rw, err
}

// socketReader keeps the hijacked reader only if the client already sent
// bytes after the handshake; otherwise a small buffer of our own costs
// less.
func socketReader(netConn net.Conn, rw *bufio.ReadWriter) *bufio.Reader {
	if rw.Reader.Buffered() > 0 {
		return rw.Reader
	}
	return bufio.NewReaderSize(netConn, readBufferSize)
}

// tokenListHas reports whether v is a well-formed comma-separated list of
// HTTP tokens (RFC 9110 section 5.6.1) that contains token, ignoring case.
func tokenListHas(v, token string) bool {
	found := false
	for _, t := range strings.Split(v, ",") {
		t = strings.Trim(t, " \t")
		if t == "" || !isToken(t) {
			return false
		}
		found = found || strings.EqualFold(t, token)
	}
	return found
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validKey reports whether k is the base64 encoding of 16 bytes.
func validKey(k string) bool {
	if len(k) != 24 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}

// ServeHTTP implements the WebSocket endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	// A foreign Origin stays an HTTP 403, for browsers too: the CSRF
	// defence refuses before anything else happens.
	origins := r.Header.Values("Origin")
	if len(origins) > 1 || !s.Origins.AllowsWebSocket(r.Header.Get("Origin"), r.Host) {
		writeHTTPError(w, http.StatusForbidden, tripsense.Errorf(tripsense.EFORBIDDEN, "origin %q is not allowed (--allowed-origins)", r.Header.Get("Origin")))
		return
	}
	// Validate the handshake before Connect: under the replace policy,
	// Connect closes the user's live connection, which a request that is
	// refused afterwards must never do.
	if err := checkHandshake(r); err != nil {
		writeHTTPError(w, http.StatusBadRequest, err)
		return
	}
	proto, _ := tripsense.SelectSubprotocol(r.Header.Values("Sec-WebSocket-Protocol"))
	// From here on the handshake is valid: a browser learns of a refusal
	// from a close code, anyone else from the HTTP status.
	browser := len(origins) == 1 || proto != ""
	refuse := func(status int, err error) {
		if browser {
			s.refuseUpgraded(w, r, proto, err)
			return
		}
		writeHTTPError(w, status, err)
	}
	if !s.allowConnect(w, r) {
		refuse(http.StatusTooManyRequests, connectRateError(s.ConnectRate))
		return
	}
	q := r.URL.Query()
	if len(q["userId"]) > 1 || len(q["token"]) > 1 {
		refuse(http.StatusUnauthorized, tripsense.Errorf(tripsense.EUNAUTHORIZED, "userId and token may each be given once"))
		return
	}
	device, err := tripsense.ParseDeviceID(q["deviceId"])
	if err != nil {
		writeHTTPError(w, http.StatusBadRequest, err)
		return
	}
	if !q.Has("userId") && !q.Has("token") && s.Service.FirstFrameAuth() {
		s.acceptUnauthenticated(w, r, proto, device)
		return
	}
	p, err := s.Auth.Authenticate(r.Context(), tripsense.Credentials{UserID: q.Get("userId"), Token: q.Get("token")})
	if err != nil {
		refuse(http.StatusUnauthorized, err)
		return
	}
	// Store calls outlive the request's context: a frame that was accepted
	// is finished even while the server shuts down.
	base := context.WithoutCancel(r.Context())
	info := tripsense.Connection{ID: newConnID(), UserID: p.UserID, DeviceID: device, ConnectedAt: time.Now().UTC(), ExpiresAt: p.Expires, Admin: p.Admin}
	if err := s.Service.Connect(base, info); err != nil {
		status, _ := tripsense.HTTPStatus(tripsense.ErrorCode(err))
		if status == http.StatusInternalServerError {
			s.log().Error("connect", "user", p.UserID, "err", err)
		}
		refuse(status, err)
		return
	}
	c := s.Hub.get(info.ID)
	netConn, rw, err := upgrade(r, w, proto)
	if err != nil || c == nil {
		if netConn != nil {
			netConn.Close()
		}
		s.disconnect(base, info)
		return
	}
	br := socketReader(netConn, rw)
	sock := &socket{conn: netConn, writeTimeout: orDefault(s.WriteTimeout, DefaultWriteTimeout)}
	s.log().Info("connected", "conn", info.ID, "user", info.UserID, "device", info.DeviceID, "remote", r.RemoteAddr, "client", clientVersion(r))
	// A socket does not outlive its token: closed at exp, unless an auth
	// frame moves it (Hub.SetExpiry).
	if !p.Expires.IsZero() {
		_ = s.Hub.SetExpiry(base, info.ID, p.Expires)
	}
	// Serve the socket on a goroutine of its own and return: net/http's
	// connection goroutine then ends and frees its request state and 8 KiB
	// of buffers, which it would otherwise hold for the socket's lifetime.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// A fresh context: the request's would keep its values alive.
		s.serveSocket(context.Background(), info, c, sock, br)
	}()
}

// refuseUpgraded answers a browser's refused request: it completes the
// (valid) handshake and closes at once with ws.RefusalClose's code and
// reason. Nothing was registered, so nothing else happens.
func (s *Server) refuseUpgraded(w http.ResponseWriter, r *http.Request, proto string, err error) {
	netConn, rw, uerr := upgrade(r, w, proto)
	if uerr != nil {
		if netConn != nil {
			netConn.Close()
		}
		return
	}
	code, reason := wscore.RefusalClose(err)
	sock := &socket{conn: netConn, writeTimeout: orDefault(s.WriteTimeout, DefaultWriteTimeout)}
	closeSocket(sock, socketReader(netConn, rw), code, reason)
}

// closeSocket sends the close frame, gives the peer a moment to answer
// (unread input at close would reset the connection and could destroy the
// close frame in flight), then releases the socket.
func closeSocket(sock *socket, br *bufio.Reader, code int, reason string) {
	sock.sendClose(code, reason)
	_ = sock.conn.SetReadDeadline(time.Now().Add(closeGrace))
	_, _ = io.Copy(io.Discard, br)
	sock.conn.Close()
}

// acceptUnauthenticated upgrades a request without credentials (token
// mode): the connection must authenticate with its first frame. It is in
// no room and no presence until then.
func (s *Server) acceptUnauthenticated(w http.ResponseWriter, r *http.Request, proto, device string) {
	netConn, rw, err := upgrade(r, w, proto)
	if err != nil {
		if netConn != nil {
			netConn.Close()
		}
		return
	}
	br := socketReader(netConn, rw)
	sock := &socket{conn: netConn, writeTimeout: orDefault(s.WriteTimeout, DefaultWriteTimeout)}
	start := time.Now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		base := context.Background()
		p, ok := s.awaitAuth(base, sock, br, start.Add(orDefault(s.authTimeout, wscore.AuthTimeout)))
		if !ok {
			return
		}
		info := tripsense.Connection{ID: newConnID(), UserID: p.UserID, DeviceID: device, ConnectedAt: time.Now().UTC(), ExpiresAt: p.Expires, Admin: p.Admin}
		if err := s.Service.Connect(base, info); err != nil {
			if tripsense.ErrorCode(err) == tripsense.EINTERNAL {
				s.log().Error("connect", "user", p.UserID, "err", err)
			}
			code, reason := wscore.RefusalClose(err)
			closeSocket(sock, br, code, reason)
			return
		}
		c := s.Hub.get(info.ID)
		if c == nil { // replaced by a connect that raced this one
			s.disconnect(base, info)
			closeSocket(sock, br, CloseCodeRemoved, "connection removed")
			return
		}
		// authed is the first frame, ahead of any message that reached the
		// queue since Register.
		c.pushFront(wscore.AuthedFrame(p))
		select {
		case <-s.Hub.shutdown: // CloseAll ran while this one was admitted
			c.close(wscore.CloseGoingAway, "server shutting down")
		default:
		}
		_ = s.Hub.SetExpiry(base, info.ID, p.Expires)
		s.log().Info("connected", "conn", info.ID, "user", info.UserID, "device", info.DeviceID, "auth", "first frame")
		s.serveSocket(base, info, c, sock, br)
	}()
}

// awaitAuth reads the frames of an unauthenticated connection until one
// authenticates it (ok) or it is closed: a failed auth frame, too many
// frames, the deadline, the peer's close or the server's shutdown. Other
// frames are answered with ws.Service.CheckFirstFrame's error frame; pings
// get their pong and count as frames.
func (s *Server) awaitAuth(ctx context.Context, sock *socket, br *bufio.Reader, deadline time.Time) (tripsense.Principal, bool) {
	_ = sock.conn.SetReadDeadline(deadline)
	stop := make(chan struct{})
	defer close(stop)
	shutdown := make(chan struct{})
	go func() {
		select {
		case <-s.Hub.shutdown:
			close(shutdown)
			_ = sock.conn.SetReadDeadline(time.Now()) // wake the reader
		case <-stop:
		}
	}()
	frames := 0
	rd := frameReader{br: br, sock: sock, allowPing: func() bool {
		frames++
		return frames <= wscore.MaxUnauthenticatedFrames
	}}
	defer rd.release()
	for {
		msg, code, reason, err := rd.next(func() bool { return true })
		switch {
		case err != nil:
			select {
			case <-shutdown:
				closeSocket(sock, br, wscore.CloseGoingAway, "server shutting down")
			default:
				if time.Now().Before(deadline) {
					sock.conn.Close() // the peer went away
					return tripsense.Principal{}, false
				}
				code, reason := wscore.RefusalClose(wscore.ErrAuthTimeout)
				closeSocket(sock, br, code, reason)
			}
			return tripsense.Principal{}, false
		case code != 0:
			closeSocket(sock, br, code, reason)
			return tripsense.Principal{}, false
		}
		fctx, cancel := context.WithTimeout(ctx, frameTimeout)
		v := s.Service.CheckFirstFrame(fctx, msg, frames)
		cancel()
		frames++
		switch {
		case v.Authenticated:
			return v.Principal, true
		case v.Close:
			closeSocket(sock, br, v.Code, v.Reason)
			return tripsense.Principal{}, false
		}
		if err := sock.writeBatch([]tripsense.Outbound{{Data: v.Reply}}); err != nil {
			sock.conn.Close()
			return tripsense.Principal{}, false
		}
	}
}

// serveSocket runs one upgraded connection until it ends.
func (s *Server) serveSocket(base context.Context, info tripsense.Connection, c *conn, sock *socket, br *bufio.Reader) {
	netConn := sock.conn
	// A writer run starts for every frame of a connection whose writer had
	// stopped (in rooms of 10, nearly every delivery): run is made once,
	// so that starting one allocates nothing (a go statement with
	// arguments allocates their closure each time).
	run := func() { s.writeRun(c, sock) }
	c.serve(func() { go run() }, orDefault(s.PingInterval, DefaultPingInterval))
	s.readLoop(base, c, sock, br, wscore.Conn{ID: info.ID, UserID: info.UserID, DeviceID: info.DeviceID, Admin: info.Admin})
	s.disconnect(base, info)
	c.close(CloseCodeRemoved, "connection removed")
	<-c.finished
	// The writer sent our close frame; give the peer a moment to answer
	// (unread input at close would reset the connection and could destroy
	// the close frame in flight), then release the socket.
	_ = netConn.SetReadDeadline(time.Now().Add(closeGrace))
	_, _ = io.Copy(io.Discard, br)
	netConn.Close()
	s.log().Info("disconnected", "conn", info.ID, "user", info.UserID)
}

func (s *Server) disconnect(ctx context.Context, info tripsense.Connection) {
	dctx, cancel := context.WithTimeout(ctx, frameTimeout)
	defer cancel()
	if err := s.Service.Disconnect(dctx, info.ID); err != nil {
		s.log().Error("disconnect", "conn", info.ID, "user", info.UserID, "err", err)
	}
}

// readLoop reads client messages until the connection ends and hands each
// to the use cases. Once the server closed the connection (replaced, slow,
// expired, shut down) no further frame is handled. Any frame (pongs
// included) proves the peer alive: with no frame for
// PingInterval+PingTimeout the read times out.
func (s *Server) readLoop(ctx context.Context, c *conn, sock *socket, br *bufio.Reader, self wscore.Conn) {
	idle := orDefault(s.PingInterval, DefaultPingInterval) + orDefault(s.PingTimeout, DefaultPingTimeout)
	// A protocol ping takes a token of the control budget; one over the
	// rate gets no pong.
	rd := frameReader{br: br, sock: sock, allowPing: func() bool {
		ok, _ := s.Hub.Allow(self.ID, wscore.BudgetControl)
		return ok
	}}
	open := func() bool {
		select {
		case <-c.done:
			return false
		default:
			return true
		}
	}
	// Sends are pipelined: the next frame is read while earlier sends wait
	// for their commit; answers go out in read order (ws.Pipeline).
	// An auth refresh may change the admin flag (Hub.SetAdmin): the
	// pipeline reads it for every frame that is not a send.
	pipe := s.Service.NewPipeline(self, wscore.PipelineOptions{
		MaxSends: s.MaxInFlightSends, MaxBytes: s.MaxInFlightBytes, FrameTimeout: frameTimeout,
		Admin: c.admin.Load,
	})
	defer pipe.Drain()
	defer rd.release()
	for {
		msg, code, reason, err := rd.next(func() bool {
			_ = sock.conn.SetReadDeadline(time.Now().Add(idle))
			// The writer cuts the read deadline short once the connection
			// closes, after the one set above.
			return open()
		})
		if err != nil {
			return
		}
		if code != 0 {
			c.close(code, reason)
			return
		}
		if !open() {
			return
		}
		if herr := pipe.Handle(ctx, msg); herr != nil {
			return // the connection is gone
		}
	}
}

// errStopped: frameReader.next's before said to stop.
var errStopped = errors.New("stopped")

// frameReader reads a connection's client frames. It reassembles
// fragmented messages and answers pings (when allowPing says so).
type frameReader struct {
	br        *bufio.Reader
	sock      *socket
	allowPing func() bool
	// held is the pooled buffer of the message next returned last; the
	// next call (or release) gives it back.
	held *[]byte
}

// pooledMessageBytes bounds the messages read into a pooled buffer: every
// sendMessage of a usual size. A larger one, and each fragment of a
// fragmented one, gets a buffer of its own.
const pooledMessageBytes = 4 << 10

var messageBuffers = sync.Pool{New: func() any { b := make([]byte, pooledMessageBytes); return &b }}

// release gives back the buffer of the message next returned last.
func (fr *frameReader) release() {
	if fr.held != nil {
		messageBuffers.Put(fr.held)
		fr.held = nil
	}
}

// next returns the next whole text or binary message, valid until the next
// call to next or release (the reader reuses its buffer: what handles the
// message must copy what it keeps, as ws.Service does). before runs ahead of
// every frame header (it arms the read deadline) and stops the read when it
// returns false. A close from the server is due (code > 0, with its
// reason) on the peer's close frame (its code echoed), a protocol
// violation (1002), a message over tripsense.HardFrameBytes (1009) and
// invalid UTF-8 in a text message (1007). err is a read error or
// errStopped.
func (fr *frameReader) next(before func() bool) (msg []byte, code int, reason string, err error) {
	fr.release()
	var msgOp ws.OpCode
	fragmented := false
	for {
		if !before() {
			return nil, 0, "", errStopped
		}
		h, err := ws.ReadHeader(fr.br)
		if err != nil {
			return nil, 0, "", err
		}
		state := ws.StateServerSide
		if fragmented {
			state = state.Set(ws.StateFragmented)
		}
		if err := ws.CheckHeader(h, state); err != nil {
			return nil, int(ws.StatusProtocolError), "protocol error", nil
		}
		if h.Length > tripsense.HardFrameBytes || int64(len(msg))+h.Length > tripsense.HardFrameBytes {
			return nil, int(ws.StatusMessageTooBig), "message too big", nil
		}
		var payload []byte
		if whole := h.Fin && !fragmented && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary); whole && h.Length <= pooledMessageBytes {
			fr.held = messageBuffers.Get().(*[]byte)
			payload = (*fr.held)[:h.Length]
		} else {
			payload = make([]byte, h.Length)
		}
		if _, err := io.ReadFull(fr.br, payload); err != nil {
			return nil, 0, "", err
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			if !fr.allowPing() {
				continue
			}
			if err := fr.sock.control(ws.NewPongFrame(payload)); err != nil {
				return nil, 0, "", err
			}
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(payload)
			if code.Empty() || ws.CheckCloseFrameData(code, reason) != nil {
				code = ws.StatusNormalClosure
			}
			return nil, int(code), "", nil // echo the peer's close code
		case ws.OpText, ws.OpBinary:
			msgOp, msg = h.OpCode, payload
			fragmented = !h.Fin
		case ws.OpContinuation:
			msg = append(msg, payload...)
			fragmented = !h.Fin
		}
		if fragmented {
			continue
		}
		if msgOp == ws.OpText && !utf8.Valid(msg) {
			return nil, int(ws.StatusInvalidFramePayloadData), "invalid UTF-8", nil
		}
		return msg, 0, "", nil
	}
}

// socket serialises writes to one connection: the writer goroutine's
// batches and the reader's pong replies.
type socket struct {
	conn         net.Conn
	writeTimeout time.Duration
	mu           sync.Mutex
	closeSent    bool
	deadlineSet  time.Time // when the write deadline was last moved
}

// armWriteDeadline keeps the write deadline between writeTimeout/2 and
// writeTimeout ahead, moving it at most every writeTimeout/2 instead of for
// every batch. Called with mu held.
func (s *socket) armWriteDeadline() {
	now := time.Now()
	if now.Sub(s.deadlineSet) < s.writeTimeout/2 {
		return
	}
	s.deadlineSet = now
	_ = s.conn.SetWriteDeadline(now.Add(s.writeTimeout))
}

// writeTextHeader writes the header of an unmasked, final text frame of n
// payload bytes (RFC 6455 section 5.2) byte by byte into bw, so that
// nothing is allocated per frame.
func writeTextHeader(bw *bufio.Writer, n int) {
	_ = bw.WriteByte(0x80 | byte(ws.OpText)) // FIN, text
	switch {
	case n <= 125:
		_ = bw.WriteByte(byte(n))
	case n <= 0xFFFF:
		_ = bw.WriteByte(126)
		_ = bw.WriteByte(byte(n >> 8))
		_ = bw.WriteByte(byte(n))
	default:
		_ = bw.WriteByte(127)
		for shift := 56; shift >= 0; shift -= 8 {
			_ = bw.WriteByte(byte(uint64(n) >> shift))
		}
	}
}

var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}

// writeBatch encodes every frame of batch into one buffer and sends it with
// as few system calls as the buffer allows.
func (s *socket) writeBatch(batch []tripsense.Outbound) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeSent {
		return net.ErrClosed
	}
	bw := writeBuffers.Get().(*bufio.Writer)
	bw.Reset(s.conn)
	defer func() { bw.Reset(nil); writeBuffers.Put(bw) }()
	s.armWriteDeadline()
	for i := range batch {
		writeTextHeader(bw, len(batch[i].Data))
		if _, err := bw.Write(batch[i].Data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// control writes one control frame (ping, pong).
func (s *socket) control(f ws.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeSent {
		return nil
	}
	s.armWriteDeadline()
	return ws.WriteFrame(s.conn, f)
}

// sendClose writes the close frame once and half-closes the connection.
func (s *socket) sendClose(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeSent {
		return
	}
	s.closeSent = true
	if len(reason) > 120 {
		reason = reason[:120]
	}
	s.deadlineSet = time.Time{}
	_ = s.conn.SetWriteDeadline(time.Now().Add(closeGrace))
	_ = ws.WriteFrame(s.conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusCode(code), reason)))
	if tcp, ok := s.conn.(interface{ CloseWrite() error }); ok {
		_ = tcp.CloseWrite()
	}
}

// writeRun is the connection's only data writer while it runs: it takes
// every queued frame at once, writes the batch with one flush and records
// each delivered message in the connection's watermark, pings the peer
// when the ping timer said so, and sends the close frame once the
// connection is closing. It ends when there is nothing left to write
// (conn.next; the next frame, ping or close starts another run) or after
// the close frame or a failed write, closing c.finished.
func (s *Server) writeRun(c *conn, sock *socket) {
	for {
		job, batch, code, reason := c.next()
		switch job {
		case jobIdle:
			return
		case jobClose:
			if code == CloseCodeSlowConsumer || code == wscore.CloseReplaced {
				s.log().Info("closing connection", "conn", c.info.ID, "user", c.info.UserID, "code", code, "reason", reason)
			}
			sock.sendClose(code, reason)
			// Wake the reader: it waits for the peer's close frame only
			// this long, and handles no further frame.
			_ = sock.conn.SetReadDeadline(time.Now().Add(closeGrace))
			close(c.finished)
			return
		case jobPing:
			if err := sock.control(ws.NewPingFrame(nil)); err != nil {
				c.close(CloseCodeRemoved, "ping failed")
			}
			continue
		}
		if err := sock.writeBatch(batch); err != nil {
			c.recordBatch(batch, false)
			if !errors.Is(err, net.ErrClosed) {
				s.log().Info("write failed; closing", "conn", c.info.ID, "err", err)
			}
			c.close(CloseCodeRemoved, "write failed")
			_ = sock.conn.Close()
			close(c.finished)
			return
		}
		if s.afterWrite != nil {
			s.afterWrite()
		}
		c.recordBatch(batch, true)
		signal(c.space)
	}
}

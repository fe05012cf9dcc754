package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// rawConn is the fan-out engine's WebSocket client: github.com/gobwas/ws on
// a plain net.Conn, as the server frames it. The engine's 1,000 readers
// share the machine's cores with the server, and coder/websocket's
// per-message reader (a Reader per message, a limit reader, a lock, a
// header read a byte at a time through a 4 KiB buffer) cost it about a
// fifth of its CPU in the peer shapes; this reads frames straight from a
// 16 KiB buffer into one reused slice. It speaks what the engine needs:
// text messages in (fragmented or not), pings answered, the server's close
// reported with its code, and masked text frames out.
type rawConn struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex // writes: the sender's frames and the reader's pongs
	out []byte     // the frame being written (under wmu)
}

// rawReadBuffer is each connection's read buffer: a server batch of many
// frames is read with one system call.
const rawReadBuffer = 16 << 10

// rawMaxMessage bounds a message the engine reads (as SetReadLimit does for
// coder/websocket): a sync page is at most about 1 MiB.
const rawMaxMessage = 4 << 20

// closeError is the close frame the server sent: its status code.
type closeError struct{ code int }

func (e *closeError) Error() string {
	return "websocket closed by the server with " + strconv.Itoa(e.code)
}

// dialRaw opens a WebSocket to t as user (dev identity), loopback only.
func dialRaw(ctx context.Context, t target, user string) (*rawConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	u := t.WS + "?userId=" + url.QueryEscape(user)
	d := ws.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return loopbackDial(ctx, network, addr)
	}}
	nc, br, _, err := d.Dial(ctx, u)
	if err != nil {
		var status ws.StatusError
		if errors.As(err, &status) && int(status) == http.StatusTooManyRequests {
			return nil, fmt.Errorf("dial %s as %s: %w%s", t.WS, user, err, limitsHint)
		}
		return nil, fmt.Errorf("dial %s as %s: %w", t.WS, user, err)
	}
	var r io.Reader = nc
	if br != nil { // the server wrote right after the handshake
		r = io.MultiReader(br, nc)
	}
	return &rawConn{nc: nc, br: bufio.NewReaderSize(r, rawReadBuffer)}, nil
}

// ReadMessage reads the next text or binary message into buf (reusing its
// capacity) and returns it. It answers pings on the way; the server's close
// is a *closeError.
func (c *rawConn) ReadMessage(buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return buf, err
		}
		// h.Length first: alone it cannot overflow the sum.
		if h.Length > rawMaxMessage || int64(len(buf))+h.Length > rawMaxMessage {
			return buf, fmt.Errorf("message over %d bytes", rawMaxMessage)
		}
		n := int(h.Length)
		start := len(buf)
		if cap(buf)-start < n {
			grown := make([]byte, start, start+n+start/2)
			copy(grown, buf)
			buf = grown
		}
		buf = buf[:start+n]
		if _, err := io.ReadFull(c.br, buf[start:]); err != nil {
			return buf[:start], err
		}
		if h.Masked { // a server does not mask; accepted anyway
			ws.Cipher(buf[start:], h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			payload := append([]byte(nil), buf[start:]...)
			buf = buf[:start]
			if err := c.write(ws.OpPong, payload); err != nil {
				return buf, err
			}
			continue
		case ws.OpPong:
			buf = buf[:start]
			continue
		case ws.OpClose:
			code := int(ws.StatusNoStatusRcvd)
			if n >= 2 {
				code = int(buf[start])<<8 | int(buf[start+1])
			}
			return buf[:start], &closeError{code: code}
		}
		if h.Fin {
			return buf, nil
		}
	}
}

// WriteText sends p as one masked text frame. p is not changed.
func (c *rawConn) WriteText(p []byte) error { return c.write(ws.OpText, p) }

func (c *rawConn) write(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(p))}
	size := ws.HeaderSize(h) + len(p)
	if cap(c.out) < size {
		c.out = make([]byte, size)
	}
	c.out = c.out[:size]
	hw := headerWriter{b: c.out[:0]}
	if err := ws.WriteHeader(&hw, h); err != nil {
		return err
	}
	payload := c.out[len(hw.b):size]
	copy(payload, p)
	ws.Cipher(payload, h.Mask, 0)
	_, err := c.nc.Write(c.out)
	return err
}

// headerWriter collects a frame header into a byte slice.
type headerWriter struct{ b []byte }

func (w *headerWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// CloseNow closes the connection without a close handshake.
func (c *rawConn) CloseNow() error { return c.nc.Close() }

// closeStatus is the server's close code in err, or -1.
func closeStatus(err error) int {
	var ce *closeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return -1
}

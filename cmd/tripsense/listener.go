package main

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection caps. The listener refuses a connection over a cap right
// after accepting it: a fixed answer, written without reading the request,
// then close. A refused connection holds its descriptor for microseconds.
const (
	// defaultConnLimit is the total cap when the descriptor limit allows it.
	defaultConnLimit = 10000
	// fdReserve is kept free of connections for the store, the listeners,
	// the runtime and the moment a refused connection is accepted.
	fdReserve = 64
)

// connLimit is the total connection cap for the configured value and the
// process's descriptor limit (0 if unknown).
func connLimit(configured int, fdLimit uint64) int {
	if configured > 0 {
		return configured
	}
	limit := defaultConnLimit
	if fdLimit > 0 {
		budget := int(min(fdLimit, 1<<30)) - fdReserve
		if budget < 16 {
			budget = max(int(min(fdLimit, 1<<30))/2, 1)
		}
		limit = min(limit, budget)
	}
	return limit
}

// limitListener counts open connections in total and per client address
// and refuses those over a cap.
type limitListener struct {
	net.Listener
	total, perIP int // caps; perIP 0 means none
	log          *slog.Logger

	mu      sync.Mutex
	open    int
	byIP    map[netip.Addr]int
	refused atomic.Int64
	lastLog atomic.Int64 // unix nanos of the last refusal log record
}

func newLimitListener(ln net.Listener, total, perIP int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, total: total, perIP: perIP, log: log, byIP: make(map[netip.Addr]int)}
}

// The answers to a refused connection: complete HTTP responses, so a
// client that sent a request reads why (best effort: the request is not
// read, so the peer may see a reset instead).
var (
	refusedTotal = refusal("the server has too many open connections; retry shortly")
	refusedPerIP = refusal("too many open connections from your address")
)

func refusal(msg string) []byte {
	body := `{"error":{"code":"rate_limited","message":"` + msg + `"}}` + "\n"
	return []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// Accept returns the next connection under the caps. Errors of the
// listener (EMFILE included) are returned unchanged, so net/http backs off
// and retries as it does for any temporary accept error.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteAddr(c)
		if answer := l.admit(ip); answer != nil {
			l.refuse(c, answer)
			continue
		}
		return &countedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) admit(ip netip.Addr) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total {
		return refusedTotal
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return refusedPerIP
	}
	l.open++
	l.byIP[ip]++
	return nil
}

func (l *limitListener) release(ip netip.Addr) {
	l.mu.Lock()
	l.open--
	if n := l.byIP[ip] - 1; n > 0 {
		l.byIP[ip] = n
	} else {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
}

// refuse answers and closes c at once; refusals are logged at most once a
// second, with the count since the last record.
func (l *limitListener) refuse(c net.Conn, answer []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write(answer)
	_ = c.Close()
	n := l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last >= int64(time.Second) && l.lastLog.CompareAndSwap(last, now) {
		l.log.Warn("refusing connections over the cap", "status", 429, "remote", c.RemoteAddr().String(), "refused_total", n, "max_connections", l.total, "max_connections_per_ip", l.perIP)
	}
}

// Refused reports how many connections were refused since the start.
func (l *limitListener) Refused() int64 { return l.refused.Load() }

// Open reports the connections open now (for tests and logs).
func (l *limitListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return clientKey(ap.Addr())
	}
	return netip.Addr{}
}

// clientKey is the address a client's connections are counted under: an
// IPv4 address (an IPv4-mapped IPv6 one too) as it is, an IPv6 address by
// its /64, since one host (SLAAC, privacy addresses) holds a whole /64 and
// could otherwise take a fresh slot per address. --connect-rate keys the
// same way (httprate.CanonicalizeIP).
func clientKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// countedConn gives its slot back when closed, once, whoever closes it
// (net/http, or the WebSocket server after a hijack).
type countedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// CloseWrite half-closes a TCP connection (net/http and the WebSocket
// server's close handshake use it when the connection has it).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

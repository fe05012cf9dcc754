package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/clients"
	"github.com/tripsense/tripsense/cmd/internal/buildinfo"
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/store/bolt"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/webhook"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// demoMemberships are the seed's demo users and rooms.
var demoMemberships = [][2]string{
	{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"},
	{"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"},
}

// demoMarker records in the data directory that the demo data was loaded
// once, so later starts do not re-add members an admin removed.
const demoMarker = ".demo-loaded"

func newLogger(c Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		opts.ReplaceAttr = durationsInMs
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Main is the running server: Open wires it, Serve runs it, Close stops it.
type Main struct {
	Config Config
	Log    *slog.Logger

	store    *bolt.Store
	hub      *local.Hub
	wsServer *local.Server
	http     *http.Server
	ln       *limitListener
	debug    *http.Server
	debugLn  net.Listener
	ready    atomic.Bool
	// Metrics are the Prometheus collectors (always collected; served on
	// --metrics-addr and, with --metrics-on-main, the main listener).
	Metrics   *metrics.Metrics
	metricsLn net.Listener
	metricsS  *http.Server
	webhooks  *webhook.Dispatcher // nil without --webhook-url
}

// maxHeaderBytes bounds a request's head (net/http's default is 1 MiB):
// ours carry at most a token, in the URL or a header.
const maxHeaderBytes = 32 << 10

// debugConnLimit caps the connections of the profiling listener.
const debugConnLimit = 8

// Open opens the store, loads demo data on first start and binds the port.
func (m *Main) Open(ctx context.Context) error {
	c := m.Config
	// The port first: a busy port fails the start before the store is
	// touched (and before demo data is loaded into it).
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another with --addr or TRIPSENSE_ADDR, e.g. --addr 127.0.0.1:8081)", c.Addr, err)
	}
	fds := fdLimit()
	limit := connLimit(c.ConnLimit, fds)
	m.ln = newLimitListener(ln, limit, c.ConnLimitPerIP, m.Log)
	if err := m.open(ctx, limit, fds); err != nil {
		ln.Close()
		return err
	}
	return nil
}

func (m *Main) open(ctx context.Context, limit int, fds uint64) error {
	c := m.Config
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// With a webhook, every append also records its event in the outbox,
	// in the same commit (store/bolt/outbox.go).
	st, err := bolt.Open(storePath(c.DataDir), bolt.Options{Outbox: c.WebhookURL != ""})
	if errors.Is(err, bolt.ErrInUse) {
		return fmt.Errorf("data dir %s is in use by another tripsense: stop it, or give this one its own --data (TRIPSENSE_DATA)", c.DataDir)
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	m.store = st
	if err := loadDemo(ctx, st, c.DataDir, c.Demo, m.Log); err != nil {
		return err
	}
	authn, err := auth.New(c.Auth, c.TokenSecret, c.Admins)
	if err != nil {
		return err
	}
	if tk, ok := authn.(*auth.Token); ok {
		tk.MaxLifetime = c.MaxTokenTTL
	}
	m.hub = local.NewHub(local.HubOptions{
		QueueLimit: c.QueueLimit, MsgRate: c.MsgRate, MsgBurst: c.MsgBurst,
		ControlRate: c.ControlRate, ControlBurst: c.ControlBurst,
	})
	m.Metrics = m.newMetrics()
	mst := m.Metrics.Store(st)
	sync := &catchup.Service{Store: mst, Epoch: st.Epoch()}
	svc := &ws.Service{
		Store: mst, Presence: m.hub, Pusher: m.Metrics.Pusher(m.hub), Catchup: sync, Observer: m.Metrics,
		Policy: c.Policy, MaxConnectionsPerUser: c.MaxConns, FanoutParallelism: 1, OrderedRooms: true, Log: m.Log,
		Limiter: m.Metrics.Limiter(m.hub), Epoch: st.Epoch(),
	}
	if c.Auth != "dev" {
		svc.Auth = authn // auth frames: in-band token refresh
	}
	if c.WebhookURL != "" {
		snd, err := webhook.NewSender(c.WebhookURL, c.WebhookSecret, webhook.DefaultTimeout, nil)
		if err != nil {
			return err
		}
		m.webhooks = &webhook.Dispatcher{Outbox: st, Source: st, Online: m.hub, Sender: snd, Log: m.Log, Observer: m.Metrics}
		svc.Appended = m.webhooks.Notify
		m.Metrics.WebhookBacklog(webhookBacklog(st, m.Log))
	}
	m.wsServer = &local.Server{Service: svc, Hub: m.hub, Auth: authn, Log: m.Log, Origins: c.AllowedOrigins,
		ConnectRate: c.ConnectRate, OnConnectLimited: m.Metrics.ConnectRateLimited}
	apiHandler := api.New(api.Config{
		Sync: m.Metrics.Catchup(sync), Members: svc, Reads: svc, Auth: authn, Log: m.Log,
		Ready: m.ready.Load, RatePerMinute: c.HTTPRate, AllowedOrigins: c.AllowedOrigins,
		Check:  func(ctx context.Context) error { _, err := st.Head(ctx, "readyz"); return err },
		Backup: st, Epoch: st.Epoch(), Webhooks: webhookAdmin(st, c.WebhookURL != ""),
	})
	if c.Gzip {
		if apiHandler, err = gzipJSON(apiHandler); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", m.wsServer)
	web := clients.Handler() // the web client at / (embedded, docs/sdk.md)
	mux.Handle("GET /{$}", web)
	mux.Handle("GET /web/", web)
	mux.Handle("/", apiHandler)
	if c.MetricsOnMain {
		mux.Handle("GET /metrics", m.Metrics.Handler())
	}
	var handler http.Handler = observeHTTP(bodyBounds(mux, api.DefaultMaxBodyBytes), m.Metrics, m.Log)
	if c.Auth == "dev" && !c.Insecure {
		handler = loopbackHostOnly(handler, devHostMessage)
	}
	m.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: c.HeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	if fds > 0 && uint64(limit)+fdReserve > fds {
		m.Log.Warn("--max-connections leaves fewer than 64 spare file descriptors: at the limit, new connections wait in the listen queue (accept fails with EMFILE) until descriptors free up; raise ulimit -n", "max_connections", limit, "descriptor_limit", fds)
	}
	m.Log.Info("effective limits", "max_connections", limit, "max_connections_per_ip", c.ConnLimitPerIP, "descriptor_limit", fds,
		"max_connections_per_user", c.MaxConns, "queue_limit", c.QueueLimit,
		"msg_rate", c.MsgRate, "msg_burst", c.MsgBurst, "control_rate", c.ControlRate, "control_burst", c.ControlBurst,
		"http_rate_per_minute", c.HTTPRate, "connect_rate_per_minute", c.ConnectRate, "max_body_bytes", api.DefaultMaxBodyBytes, "max_frame_bytes", tripsense.MaxFrameBytes,
		"header_timeout_ms", c.HeaderTimeout.Milliseconds(), "read_timeout_ms", c.ReadTimeout.Milliseconds(),
		"write_timeout_ms", c.WriteTimeout.Milliseconds(), "idle_timeout_ms", c.IdleTimeout.Milliseconds(),
		"max_token_ttl_ms", c.MaxTokenTTL.Milliseconds())
	if c.DebugAddr != "" {
		if err := m.openDebug(); err != nil {
			return err
		}
	}
	if c.MetricsAddr != "" {
		if err := m.openMetrics(); err != nil {
			return err
		}
	}
	return nil
}

// Addr is the bound address (useful with --addr 127.0.0.1:0).
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Serve serves until ctx is done, then shuts down gracefully: stop
// accepting, close WebSockets with 1001, wait for their handlers (which
// record read cursors), then flush and close the store.
func (m *Main) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- m.http.Serve(m.ln) }()
	m.ready.Store(true)
	pruned := make(chan struct{})
	pctx, stopPruner := context.WithCancel(ctx)
	go func() { defer close(pruned); runPruner(pctx, m.store, m.Config.Retention, m.Log) }()
	defer func() { stopPruner(); <-pruned }()
	if m.webhooks != nil {
		delivered := make(chan struct{})
		go func() { defer close(delivered); m.webhooks.Run(pctx) }()
		defer func() { stopPruner(); <-delivered }()
		m.Log.Info("webhooks on", "url", m.Config.WebhookURL)
	}
	m.Log.Info("tripsense listening", "version", buildinfo.Get().Version, "epoch", m.store.Epoch(), "addr", m.Addr(), "ws", "ws://"+m.Addr()+"/ws", "http", "http://"+m.Addr()+"/v1", "auth", m.Config.Auth, "duplicate_connections", string(m.Config.Policy), "data", m.Config.DataDir)
	if m.Config.Auth == "dev" {
		m.Log.Warn("DEV IDENTITY MODE: identities are NOT verified; any client can act as any userId (?userId= / X-User-Id). Use --auth token outside local development.")
	}
	if m.debug != nil {
		go func() {
			if err := m.debug.Serve(m.debugLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Log.Warn("debug server", "err", err)
			}
		}()
		m.Log.Info("profiles served", "addr", "http://"+m.DebugAddr()+"/debug/pprof/")
	}
	if m.metricsS != nil {
		go func() {
			if err := m.metricsS.Serve(m.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Log.Warn("metrics server", "err", err)
			}
		}()
		m.Log.Info("metrics served", "addr", "http://"+m.MetricsAddr()+"/metrics")
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	m.ready.Store(false)
	m.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := m.http.Shutdown(sctx); err != nil {
		m.Log.Warn("http shutdown", "err", err)
	}
	if m.debug != nil {
		_ = m.debug.Close()
	}
	if m.metricsS != nil {
		_ = m.metricsS.Close()
	}
	m.hub.CloseAll(ws.CloseGoingAway, "server shutting down")
	if err := m.wsServer.Wait(sctx); err != nil {
		m.Log.Warn("websocket handlers did not finish", "err", err)
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Close flushes and closes the store.
func (m *Main) Close() error {
	if m.store != nil {
		return m.store.Close()
	}
	return nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	m := &Main{Config: c, Log: newLogger(c, stderr)}
	// The heap floor is the process's: only the server command sets it
	// (tests run many Mains in one process).
	if floor := startHeapFloor(uint64(c.GCHeapFloor), nil); floor != nil {
		defer floor.stop()
		m.Log.Info("gc heap floor", "bytes", floor.floor, "gogc", floor.base)
	}
	defer func() {
		if err := m.Close(); err != nil {
			m.Log.Error("close store", "err", err)
		}
	}()
	if err := m.Open(ctx); err != nil {
		return err
	}
	return m.Serve(ctx)
}

// loadDemo loads the demo data on the first start of a data directory
// (unless load is false) and records that the first start happened, so a
// data directory started once with --no-demo never gets demo members later.
func loadDemo(ctx context.Context, st tripsense.Store, dataDir string, load bool, log *slog.Logger) error {
	marker := filepath.Join(dataDir, demoMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if !load {
		return os.WriteFile(marker, []byte("started with --no-demo: demo users and rooms are not loaded\n"), 0o640)
	}
	for _, m := range demoMemberships {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
	}
	if err := os.WriteFile(marker, []byte("demo users and rooms loaded; delete this file to load them again\n"), 0o640); err != nil {
		return fmt.Errorf("demo marker: %w", err)
	}
	var pairs []string
	for _, m := range demoMemberships {
		pairs = append(pairs, m[1]+"@"+m[0])
	}
	log.Info("loaded demo data", "members", strings.Join(pairs, " "))
	return nil
}

// devHostMessage is the refusal of a request not addressed to loopback in
// dev identity mode.
const devHostMessage = "dev identity mode answers only requests addressed to localhost, 127.0.0.1 or [::1]"

// loopbackHostOnly refuses requests whose Host is not a loopback name or
// address with 403 {"error":{"code":"forbidden","message":msg}}. In dev
// identity mode anyone who reaches the server can act as any user, and the
// profiles show the server's memory: binding to loopback keeps other
// machines out, and this check keeps out web pages that reach it through
// DNS rebinding (a hostile domain that resolves to 127.0.0.1 sends its own
// name as Host).
func loopbackHostOnly(next http.Handler, msg string) http.Handler {
	body := `{"error":{"code":"forbidden","message":` + strconv.Quote(msg) + "}}\n"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !isLoopback(strings.Trim(host, "[]")) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, body)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DebugAddr is the bound profiling address ("" without --debug-addr).
func (m *Main) DebugAddr() string {
	if m.debugLn == nil {
		return ""
	}
	return m.debugLn.Addr().String()
}

// openDebug binds the profiling listener: Go's profiles on a loopback
// address, answering only requests addressed to loopback, with time bounds
// that let a CPU profile of up to 110 s finish and at most debugConnLimit
// connections.
func (m *Main) openDebug() error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", m.Config.DebugAddr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	m.debugLn = newLimitListener(ln, debugConnLimit, 0, m.Log)
	m.debug = &http.Server{
		Handler:           loopbackHostOnly(mux, "the profiling listener answers only requests addressed to localhost, 127.0.0.1 or [::1]"),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      2 * time.Minute, // pprof refuses ?seconds= at or over it
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	return nil
}

// outboxAdmin is api.Webhooks over the store's outbox.
type outboxAdmin struct{ st *bolt.Store }

func (o outboxAdmin) OutboxList(ctx context.Context, limit int) ([]tripsense.OutboxEntry, error) {
	return o.st.OutboxList(ctx, limit)
}

func (o outboxAdmin) Replay(ctx context.Context, seq uint64) (int, error) {
	return o.st.OutboxReplay(ctx, seq, time.Now())
}

func webhookAdmin(st *bolt.Store, on bool) api.Webhooks {
	if !on {
		return nil
	}
	return outboxAdmin{st}
}

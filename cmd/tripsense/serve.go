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
	"strings"
	"sync/atomic"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/bolt"
	catchup "github.com/tripsense/tripsense/sync"
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
	ln       net.Listener
	ready    atomic.Bool
}

// Open opens the store, loads demo data on first start and binds the port.
func (m *Main) Open(ctx context.Context) error {
	c := m.Config
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := bolt.Open(storePath(c.DataDir), bolt.Options{})
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
	m.hub = local.NewHub(local.HubOptions{
		QueueLimit: c.QueueLimit, MsgRate: c.MsgRate, MsgBurst: c.MsgBurst,
		ControlRate: c.ControlRate, ControlBurst: c.ControlBurst,
	})
	sync := &catchup.Service{Store: st}
	svc := &ws.Service{
		Store: st, Presence: m.hub, Pusher: m.hub, Catchup: sync,
		Policy: c.Policy, MaxConnectionsPerUser: c.MaxConns, FanoutParallelism: 1, OrderedRooms: true, Log: m.Log,
		Limiter: m.hub,
	}
	m.wsServer = &local.Server{Service: svc, Hub: m.hub, Auth: authn, Log: m.Log}
	apiHandler := api.New(api.Config{
		Sync: sync, Members: svc, Reads: svc, Auth: authn, Log: m.Log,
		Ready: m.ready.Load, RatePerMinute: c.HTTPRate,
	})
	mux := http.NewServeMux()
	mux.Handle("GET /ws", m.wsServer)
	mux.Handle("/", apiHandler)
	var handler http.Handler = mux
	if c.Auth == "dev" && !c.Insecure {
		handler = loopbackHostOnly(mux)
	}
	m.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.ln = ln
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
	m.Log.Info("tripsense listening", "addr", m.Addr(), "ws", "ws://"+m.Addr()+"/ws", "http", "http://"+m.Addr()+"/v1", "auth", m.Config.Auth, "duplicate_connections", string(m.Config.Policy), "data", m.Config.DataDir)
	if m.Config.Auth == "dev" {
		m.Log.Warn("DEV IDENTITY MODE: identities are NOT verified; any client can act as any userId (?userId= / X-User-Id). Use --auth token outside local development.")
	}
	if m.Config.DebugAddr != "" {
		go m.serveDebug()
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

// loopbackHostOnly refuses requests whose Host is not a loopback name or
// address. In dev identity mode anyone who reaches the server can act as any
// user; binding to loopback keeps other machines out, and this check keeps
// out web pages that reach it through DNS rebinding (a hostile domain that
// resolves to 127.0.0.1 sends its own name as Host).
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !isLoopback(strings.Trim(host, "[]")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"code":"forbidden","message":"dev identity mode answers only requests addressed to localhost, 127.0.0.1 or [::1]"}}`+"\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveDebug serves Go's profiles on the loopback debug address.
func (m *Main) serveDebug() {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: m.Config.DebugAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.Log.Info("profiles served", "addr", "http://"+m.Config.DebugAddr+"/debug/pprof/")
	if err := srv.ListenAndServe(); err != nil {
		m.Log.Warn("debug server", "err", err)
	}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/webhook"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// errUsage is returned after a flag error was already printed.
var errUsage = errors.New("usage")

// Config is the server's configuration, read once from flags and the
// environment (flags win).
type Config struct {
	// Retention, when positive, is how long messages and events are kept
	// (TRIPSENSE_RETENTION): a background pruner removes older ones.
	Retention time.Duration
	// WebhookURL, when set, receives every room-log entry as a signed
	// webhook (TRIPSENSE_WEBHOOK_URL), signed with WebhookSecret
	// (TRIPSENSE_WEBHOOK_SECRET, environment only: whsec_...).
	WebhookURL    string
	WebhookSecret string
	Addr          string // TRIPSENSE_ADDR
	DataDir       string // TRIPSENSE_DATA
	Demo          bool   // load the seed's demo users and rooms on first start
	Auth          string // dev | token (TRIPSENSE_AUTH)
	TokenSecret   string // TRIPSENSE_TOKEN_SECRET
	Insecure      bool   // allow dev identity on a non-loopback address
	Admins        []string
	Policy        ws.DuplicatePolicy
	MaxConns      int // connections per user (over all devices) under the replace and allow policies
	QueueLimit    int
	LogFormat     string // text | json
	LogLevel      string
	// MsgRate and MsgBurst bound sendMessage per connection (token bucket).
	MsgRate  float64
	MsgBurst int
	// ControlRate and ControlBurst bound the other frames (sync, ping,
	// markRead, auth) per connection, in a bucket of their own.
	ControlRate  float64
	ControlBurst int
	// HTTPRate bounds HTTP requests per client IP per minute.
	HTTPRate int
	// DebugAddr, when set, serves net/http/pprof on that (loopback) address.
	DebugAddr string

	// Time bounds of one HTTP request on the main listener (WebSockets
	// set their own deadlines once upgraded): HeaderTimeout for the
	// request head, ReadTimeout for head and body, WriteTimeout from the
	// end of the head to the end of the answer, IdleTimeout between
	// requests of a keep-alive connection. docs/operations.md explains the
	// defaults.
	HeaderTimeout time.Duration
	ReadTimeout   time.Duration
	WriteTimeout  time.Duration
	IdleTimeout   time.Duration
	// ConnLimit caps open connections (HTTP and WebSocket) in total, 0
	// meaning the default derived from the descriptor limit;
	// ConnLimitPerIP caps them per client address, 0 meaning no cap.
	ConnLimit      int
	ConnLimitPerIP int
	// MaxTokenTTL is the longest lifetime a token may have (token mode).
	MaxTokenTTL time.Duration
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(getenv func(string) string, key string, def int) int {
	if v, err := strconv.Atoi(getenv(key)); err == nil {
		return v
	}
	return def
}

func envFloat(getenv func(string) string, key string, def float64) float64 {
	if v, err := strconv.ParseFloat(getenv(key), 64); err == nil {
		return v
	}
	return def
}

func envDuration(getenv func(string) string, key string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(getenv(key)); err == nil {
		return v
	}
	return def
}

func envBool(getenv func(string) string, key string, def bool) bool {
	if v := getenv(key); v != "" {
		b, err := strconv.ParseBool(v)
		if err == nil {
			return b
		}
	}
	return def
}

// parseServeConfig reads flags over the environment and validates.
func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", envOr(getenv, "TRIPSENSE_ADDR", "127.0.0.1:8080"), "listen address (TRIPSENSE_ADDR)")
	fs.StringVar(&c.DataDir, "data", envOr(getenv, "TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	noDemo := fs.Bool("no-demo", envBool(getenv, "TRIPSENSE_NO_DEMO", false), "do not load the demo users and rooms on first start (TRIPSENSE_NO_DEMO)")
	fs.StringVar(&c.Auth, "auth", envOr(getenv, "TRIPSENSE_AUTH", "dev"), "identity mode: dev (userId trusted, loopback only) or token (signed JWT) (TRIPSENSE_AUTH)")
	fs.BoolVar(&c.Insecure, "insecure-dev-identity", envBool(getenv, "TRIPSENSE_INSECURE_DEV_IDENTITY", false), "allow dev identity on a non-loopback address: ANYONE can claim ANY user")
	admins := fs.String("admins", envOr(getenv, "TRIPSENSE_ADMINS", "admin"), "comma-separated admin user ids in dev mode (TRIPSENSE_ADMINS)")
	policy := fs.String("duplicate-connections", envOr(getenv, "TRIPSENSE_DUPLICATE_CONNECTIONS", string(ws.Replace)), "policy for a second connection of an online user: refuse, replace or allow (TRIPSENSE_DUPLICATE_CONNECTIONS)")
	fs.IntVar(&c.MaxConns, "max-connections-per-user", envInt(getenv, "TRIPSENSE_MAX_CONNECTIONS_PER_USER", ws.DefaultMaxConnectionsPerUser), "simultaneous connections of one user, over all its devices, under --duplicate-connections replace and allow (TRIPSENSE_MAX_CONNECTIONS_PER_USER)")
	fs.IntVar(&c.QueueLimit, "queue-limit", envInt(getenv, "TRIPSENSE_QUEUE_LIMIT", 1024), "frames queued per connection before it is closed as a slow consumer (TRIPSENSE_QUEUE_LIMIT)")
	fs.StringVar(&c.LogFormat, "log-format", envOr(getenv, "TRIPSENSE_LOG_FORMAT", "text"), "log format: text or json (TRIPSENSE_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", envOr(getenv, "TRIPSENSE_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	fs.Float64Var(&c.MsgRate, "msg-rate", envFloat(getenv, "TRIPSENSE_MSG_RATE", local.DefaultMsgRate), "sendMessage frames per second per connection (token bucket refill) (TRIPSENSE_MSG_RATE)")
	fs.IntVar(&c.MsgBurst, "msg-burst", envInt(getenv, "TRIPSENSE_MSG_BURST", local.DefaultMsgBurst), "sendMessage burst per connection (token bucket size: the outbox a reconnecting client may flush at once) (TRIPSENSE_MSG_BURST)")
	fs.Float64Var(&c.ControlRate, "control-rate", envFloat(getenv, "TRIPSENSE_CONTROL_RATE", local.DefaultControlRate), "other frames (sync, ping, markRead, auth) per second per connection (TRIPSENSE_CONTROL_RATE)")
	fs.IntVar(&c.ControlBurst, "control-burst", envInt(getenv, "TRIPSENSE_CONTROL_BURST", local.DefaultControlBurst), "burst of the other frames per connection (TRIPSENSE_CONTROL_BURST)")
	fs.IntVar(&c.HTTPRate, "http-rate", envInt(getenv, "TRIPSENSE_HTTP_RATE", 600), "HTTP requests per minute per client IP, 0 disables (TRIPSENSE_HTTP_RATE)")
	fs.StringVar(&c.DebugAddr, "debug-addr", envOr(getenv, "TRIPSENSE_DEBUG_ADDR", ""), "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060; empty disables (TRIPSENSE_DEBUG_ADDR)")
	fs.DurationVar(&c.HeaderTimeout, "header-timeout", envDuration(getenv, "TRIPSENSE_HEADER_TIMEOUT", 10*time.Second), "time a client has to send a request's headers (TRIPSENSE_HEADER_TIMEOUT)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", envDuration(getenv, "TRIPSENSE_READ_TIMEOUT", 30*time.Second), "time a client has to send a whole request, headers and body (TRIPSENSE_READ_TIMEOUT)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", envDuration(getenv, "TRIPSENSE_WRITE_TIMEOUT", 60*time.Second), "time to handle a request and deliver its answer; a slow link must receive a full page within it (TRIPSENSE_WRITE_TIMEOUT)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", envDuration(getenv, "TRIPSENSE_IDLE_TIMEOUT", 2*time.Minute), "how long an idle keep-alive HTTP connection stays open (TRIPSENSE_IDLE_TIMEOUT)")
	fs.IntVar(&c.ConnLimit, "max-connections", envInt(getenv, "TRIPSENSE_MAX_CONNECTIONS", 0), "open connections (HTTP and WebSocket) in total; 0 means min(10000, descriptor limit - 64) (TRIPSENSE_MAX_CONNECTIONS)")
	fs.IntVar(&c.ConnLimitPerIP, "max-connections-per-ip", envInt(getenv, "TRIPSENSE_MAX_CONNECTIONS_PER_IP", 256), "open connections per client IP address; 0 disables (set 0 behind a proxy) (TRIPSENSE_MAX_CONNECTIONS_PER_IP)")
	fs.DurationVar(&c.Retention, "retention", envDuration(getenv, "TRIPSENSE_RETENTION", 0), "remove messages and events older than this, e.g. 720h; 0 keeps everything (TRIPSENSE_RETENTION)")
	fs.DurationVar(&c.MaxTokenTTL, "max-token-ttl", envDuration(getenv, "TRIPSENSE_MAX_TOKEN_TTL", auth.DefaultMaxLifetime), "longest lifetime a token may have (exp - iat, and exp - now) (TRIPSENSE_MAX_TOKEN_TTL)")
	fs.StringVar(&c.WebhookURL, "webhook-url", envOr(getenv, "TRIPSENSE_WEBHOOK_URL", ""), "POST every message, edit, delete, reaction, membership change and rename there as a Standard Webhooks event, signed with TRIPSENSE_WEBHOOK_SECRET; empty disables (TRIPSENSE_WEBHOOK_URL)")
	if err := fs.Parse(args); err != nil {
		return c, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected arguments %q\n", fs.Args())
		return c, errUsage
	}
	c.Demo = !*noDemo
	// The read timeout includes the headers.
	c.HeaderTimeout = min(c.HeaderTimeout, c.ReadTimeout)
	c.TokenSecret = getenv("TRIPSENSE_TOKEN_SECRET")
	c.WebhookSecret = getenv("TRIPSENSE_WEBHOOK_SECRET")
	for _, a := range strings.Split(*admins, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Admins = append(c.Admins, a)
		}
	}
	p, err := ws.ParsePolicy(*policy)
	if err != nil {
		return c, err
	}
	c.Policy = p
	return c, c.Validate()
}

// Validate checks the configuration.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if c.Retention < 0 {
		return fmt.Errorf("--retention %s: must not be negative (0 keeps everything)", c.Retention)
	}
	if c.WebhookURL != "" {
		if _, err := webhook.NewSender(c.WebhookURL, c.WebhookSecret, 0, nil); err != nil {
			return fmt.Errorf("--webhook-url with TRIPSENSE_WEBHOOK_SECRET: %w", err)
		}
	} else if c.WebhookSecret != "" {
		return errors.New("TRIPSENSE_WEBHOOK_SECRET is set but --webhook-url (TRIPSENSE_WEBHOOK_URL) is not: set both to send webhooks")
	}
	switch c.Auth {
	case "dev":
		if !isLoopback(host) && !c.Insecure {
			return fmt.Errorf("dev identity mode trusts any userId, so it listens only on loopback; %q is not loopback (use --auth token, or --insecure-dev-identity if you really mean it)", c.Addr)
		}
	case "token":
		if len(c.TokenSecret) < 32 {
			return errors.New("token mode needs TRIPSENSE_TOKEN_SECRET of at least 32 bytes")
		}
	default:
		return fmt.Errorf("--auth %q: want dev or token", c.Auth)
	}
	if c.DebugAddr != "" {
		h, _, err := net.SplitHostPort(c.DebugAddr)
		if err != nil || !isLoopback(h) {
			return fmt.Errorf("--debug-addr %q: must be a loopback host:port", c.DebugAddr)
		}
	}
	if c.DataDir == "" {
		return errors.New("--data is empty")
	}
	if c.MaxConns < 1 {
		return errors.New("--max-connections-per-user must be at least 1")
	}
	if c.QueueLimit < 16 {
		return errors.New("--queue-limit must be at least 16")
	}
	if c.MsgRate <= 0 || c.MsgBurst < 1 {
		return errors.New("--msg-rate must be > 0 and --msg-burst >= 1")
	}
	if c.HeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return errors.New("--header-timeout, --read-timeout, --write-timeout and --idle-timeout must be positive")
	}
	if c.WriteTimeout < c.ReadTimeout {
		// net/http starts the write deadline when the headers are read, so
		// it also covers reading the body.
		return fmt.Errorf("--write-timeout %s is shorter than --read-timeout %s: the write timeout runs from the end of the headers, through the body, to the end of the answer", c.WriteTimeout, c.ReadTimeout)
	}
	if c.ConnLimit < 0 || c.ConnLimitPerIP < 0 {
		return errors.New("--max-connections and --max-connections-per-ip must not be negative")
	}
	if c.MaxTokenTTL <= 0 {
		return errors.New("--max-token-ttl must be positive")
	}
	if c.ControlRate <= 0 || c.ControlBurst < 1 {
		return errors.New("--control-rate must be > 0 and --control-burst >= 1")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// storePath is the embedded store's file inside the data directory.
func storePath(dataDir string) string { return filepath.Join(dataDir, "tripsense.db") }

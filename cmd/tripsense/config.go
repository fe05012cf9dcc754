package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/webhook"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// errUsage is returned after a flag error was already printed.
var errUsage = errors.New("usage")

// errHelp is returned after -h printed a command's help: exit 0.
var errHelp = errors.New("help")

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
	// ConnectRate bounds WebSocket upgrades per client IP per minute.
	ConnectRate int
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
	// MetricsAddr, when set, serves /metrics (Prometheus) on a listener of
	// its own; MetricsOnMain serves it on the main listener too.
	MetricsAddr   string
	MetricsOnMain bool
	// Gzip compresses JSON answers of the HTTP API for clients that accept
	// it.
	Gzip bool
	// AllowedOrigins are the browser origins allowed besides the same
	// origin: CORS on the HTTP API and the WebSocket Origin check
	// (TRIPSENSE_ALLOWED_ORIGINS).
	AllowedOrigins tripsense.Origins
	// GCHeapFloor is the least heap goal of the garbage collector
	// (TRIPSENSE_GC_HEAP_FLOOR; 0: Go's own, twice the live heap). See
	// gcfloor.go.
	GCHeapFloor byteSize
}

// byteSize is a flag of a number of bytes, written as GOMEMLIMIT is
// ("64MiB"; parseBytes).
type byteSize uint64

func (b *byteSize) String() string { return formatBytes(uint64(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// envReader reads TRIPSENSE_* variables strictly: an empty variable is
// unset (the default applies), and any other value that does not parse is
// remembered and refuses the start with a message naming the variable
// (TRIPSENSE_NO_DEMO=yes or TRIPSENSE_MSG_RATE=fast never fall back to a
// default quietly).
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (e *envReader) fail(key, v, want string) {
	e.errs = append(e.errs, fmt.Errorf("%s=%q: want %s", key, v, want))
}

func (e *envReader) str(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

func (e *envReader) int(key string, def int) int {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(key, v, "an integer")
		return def
	}
	return n
}

func (e *envReader) float(key string, def float64) float64 {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		e.fail(key, v, "a number such as 20 or 0.5")
		return def
	}
	return f
}

func (e *envReader) duration(key string, def time.Duration) time.Duration {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.fail(key, v, "a duration such as 30s, 2m or 24h")
		return def
	}
	return d
}

func (e *envReader) bool(key string, def bool) bool {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(key, v, "true or false (or 1 or 0)")
		return def
	}
	return b
}

func (e *envReader) size(key string, def uint64) byteSize {
	v := e.getenv(key)
	if v == "" {
		return byteSize(def)
	}
	n, err := parseBytes(v)
	if err != nil {
		e.fail(key, v, "a size such as 64MiB, or 0")
		return byteSize(def)
	}
	return byteSize(n)
}

func (e *envReader) err() error { return errors.Join(e.errs...) }

// envOr reads a string variable (empty means def).
func envOr(getenv func(string) string, key, def string) string {
	return (&envReader{getenv: getenv}).str(key, def)
}

// envDuration reads a duration variable strictly, for subcommands.
func envDuration(getenv func(string) string, key string, def time.Duration) (time.Duration, error) {
	e := &envReader{getenv: getenv}
	d := e.duration(key, def)
	return d, e.err()
}

// serveFlags defines the serve flags on fs, each defaulting to its
// variable read by env; every flag's help ends with its variable's name.
func serveFlags(fs *flag.FlagSet, c *Config, e *envReader) (noDemo *bool, admins, policy, origins *string) {
	fs.StringVar(&c.Addr, "addr", e.str("TRIPSENSE_ADDR", "127.0.0.1:8080"), "listen address host:port; use 127.0.0.1:0 for any free port (TRIPSENSE_ADDR)")
	fs.StringVar(&c.DataDir, "data", e.str("TRIPSENSE_DATA", "./data"), "data directory (TRIPSENSE_DATA)")
	noDemo = fs.Bool("no-demo", e.bool("TRIPSENSE_NO_DEMO", false), "do not load the demo users and rooms on first start (TRIPSENSE_NO_DEMO)")
	fs.StringVar(&c.Auth, "auth", e.str("TRIPSENSE_AUTH", "dev"), "identity mode: dev (userId trusted, loopback only) or token (signed JWT) (TRIPSENSE_AUTH)")
	fs.BoolVar(&c.Insecure, "insecure-dev-identity", e.bool("TRIPSENSE_INSECURE_DEV_IDENTITY", false), "allow dev identity on a non-loopback address: ANYONE can claim ANY user (TRIPSENSE_INSECURE_DEV_IDENTITY)")
	admins = fs.String("admins", e.str("TRIPSENSE_ADMINS", "admin"), "comma-separated admin user ids in dev mode (TRIPSENSE_ADMINS)")
	policy = fs.String("duplicate-connections", e.str("TRIPSENSE_DUPLICATE_CONNECTIONS", string(ws.Replace)), "policy for a second connection of an online user: refuse, replace or allow (TRIPSENSE_DUPLICATE_CONNECTIONS)")
	fs.IntVar(&c.MaxConns, "max-connections-per-user", e.int("TRIPSENSE_MAX_CONNECTIONS_PER_USER", ws.DefaultMaxConnectionsPerUser), "simultaneous connections of one user, over all its devices, under --duplicate-connections replace and allow (TRIPSENSE_MAX_CONNECTIONS_PER_USER)")
	fs.IntVar(&c.QueueLimit, "queue-limit", e.int("TRIPSENSE_QUEUE_LIMIT", 1024), "frames queued per connection before it is closed as a slow consumer (TRIPSENSE_QUEUE_LIMIT)")
	fs.StringVar(&c.LogFormat, "log-format", e.str("TRIPSENSE_LOG_FORMAT", "text"), "log format: text or json (TRIPSENSE_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", e.str("TRIPSENSE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (TRIPSENSE_LOG_LEVEL)")
	fs.Float64Var(&c.MsgRate, "msg-rate", e.float("TRIPSENSE_MSG_RATE", local.DefaultMsgRate), "sendMessage frames per second per connection (token bucket refill) (TRIPSENSE_MSG_RATE)")
	fs.IntVar(&c.MsgBurst, "msg-burst", e.int("TRIPSENSE_MSG_BURST", local.DefaultMsgBurst), "sendMessage burst per connection (token bucket size: the outbox a reconnecting client may flush at once) (TRIPSENSE_MSG_BURST)")
	fs.Float64Var(&c.ControlRate, "control-rate", e.float("TRIPSENSE_CONTROL_RATE", local.DefaultControlRate), "other frames (sync, ping, markRead, auth) per second per connection (TRIPSENSE_CONTROL_RATE)")
	fs.IntVar(&c.ControlBurst, "control-burst", e.int("TRIPSENSE_CONTROL_BURST", local.DefaultControlBurst), "burst of the other frames per connection (TRIPSENSE_CONTROL_BURST)")
	fs.IntVar(&c.HTTPRate, "http-rate", e.int("TRIPSENSE_HTTP_RATE", 600), "HTTP requests per minute per client IP, 0 disables (TRIPSENSE_HTTP_RATE)")
	fs.IntVar(&c.ConnectRate, "connect-rate", e.int("TRIPSENSE_CONNECT_RATE", 600), "WebSocket connections opened per minute per client IP, 0 disables (set 0 behind a proxy) (TRIPSENSE_CONNECT_RATE)")
	fs.StringVar(&c.DebugAddr, "debug-addr", e.str("TRIPSENSE_DEBUG_ADDR", ""), "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060; empty disables (TRIPSENSE_DEBUG_ADDR)")
	fs.DurationVar(&c.HeaderTimeout, "header-timeout", e.duration("TRIPSENSE_HEADER_TIMEOUT", 10*time.Second), "time a client has to send a request's headers (TRIPSENSE_HEADER_TIMEOUT)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", e.duration("TRIPSENSE_READ_TIMEOUT", 30*time.Second), "time a client has to send a whole request, headers and body (TRIPSENSE_READ_TIMEOUT)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", e.duration("TRIPSENSE_WRITE_TIMEOUT", 60*time.Second), "time to handle a request and deliver its answer; a slow link must receive a full page within it (TRIPSENSE_WRITE_TIMEOUT)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", e.duration("TRIPSENSE_IDLE_TIMEOUT", 2*time.Minute), "how long an idle keep-alive HTTP connection stays open (TRIPSENSE_IDLE_TIMEOUT)")
	fs.IntVar(&c.ConnLimit, "max-connections", e.int("TRIPSENSE_MAX_CONNECTIONS", 0), "open connections (HTTP and WebSocket) in total; 0 means min(10000, descriptor limit - 64) (TRIPSENSE_MAX_CONNECTIONS)")
	fs.IntVar(&c.ConnLimitPerIP, "max-connections-per-ip", e.int("TRIPSENSE_MAX_CONNECTIONS_PER_IP", 256), "open connections per client IP address; 0 disables (set 0 behind a proxy) (TRIPSENSE_MAX_CONNECTIONS_PER_IP)")
	fs.DurationVar(&c.MaxTokenTTL, "max-token-ttl", e.duration("TRIPSENSE_MAX_TOKEN_TTL", auth.DefaultMaxLifetime), "longest lifetime a token may have (exp - iat, and exp - now) (TRIPSENSE_MAX_TOKEN_TTL)")
	fs.DurationVar(&c.Retention, "retention", e.duration("TRIPSENSE_RETENTION", 0), "remove messages and events older than this, e.g. 720h; 0 keeps everything (TRIPSENSE_RETENTION)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", e.str("TRIPSENSE_METRICS_ADDR", ""), "serve Prometheus metrics on /metrics of this host:port (its own listener, no identity: keep it off the internet); empty disables (TRIPSENSE_METRICS_ADDR)")
	fs.BoolVar(&c.MetricsOnMain, "metrics-on-main", e.bool("TRIPSENSE_METRICS_ON_MAIN", false), "also serve /metrics on the main listener, to anyone who reaches it (TRIPSENSE_METRICS_ON_MAIN)")
	fs.BoolVar(&c.Gzip, "gzip", e.bool("TRIPSENSE_GZIP", true), "gzip JSON answers of the HTTP API over 1 KiB for clients that accept it (TRIPSENSE_GZIP)")
	fs.StringVar(&c.WebhookURL, "webhook-url", e.str("TRIPSENSE_WEBHOOK_URL", ""), "POST every message, edit, delete, reaction, membership change and rename there as a Standard Webhooks event, signed with TRIPSENSE_WEBHOOK_SECRET; empty disables (TRIPSENSE_WEBHOOK_URL)")
	c.GCHeapFloor = e.size("TRIPSENSE_GC_HEAP_FLOOR", defaultGCHeapFloor)
	fs.Var(&c.GCHeapFloor, "gc-heap-floor", "the garbage collector lets the heap grow to at least this size before it collects (0: Go's default, twice the live heap); GOGC and GOMEMLIMIT still apply (TRIPSENSE_GC_HEAP_FLOOR)")
	origins = fs.String("allowed-origins", e.str("TRIPSENSE_ALLOWED_ORIGINS", ""), "comma-separated browser origins (scheme://host[:port]) allowed besides the same origin, for CORS on the HTTP API and the WebSocket Origin check; * opens the HTTP API only, not in dev mode (TRIPSENSE_ALLOWED_ORIGINS)")
	return noDemo, admins, policy, origins
}

// parseServeConfig reads flags over the environment and validates. An
// invalid variable refuses the start even when a flag overrides it: the
// environment is meant, and wrong.
func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	e := &envReader{getenv: getenv}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noDemo, admins, policy, origins := serveFlags(fs, &c, e)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, errHelp
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected arguments %q\n", fs.Args())
		return c, errUsage
	}
	if err := e.err(); err != nil {
		return c, err
	}
	c.Demo = !*noDemo
	// The read timeout includes the headers.
	c.HeaderTimeout = min(c.HeaderTimeout, c.ReadTimeout)
	c.TokenSecret = getenv("TRIPSENSE_TOKEN_SECRET")
	c.WebhookSecret = getenv("TRIPSENSE_WEBHOOK_SECRET")
	for _, a := range strings.Split(*admins, ",") {
		if a = strings.TrimSpace(a); a != "" {
			if !tripsense.ValidID(a) {
				return c, fmt.Errorf("--admins (TRIPSENSE_ADMINS) %q: each admin must be 1-%d characters of [A-Za-z0-9_.:@-]", a, tripsense.MaxIDLen)
			}
			c.Admins = append(c.Admins, a)
		}
	}
	p, err := ws.ParsePolicy(*policy)
	if err != nil {
		return c, fmt.Errorf("--duplicate-connections (TRIPSENSE_DUPLICATE_CONNECTIONS): %w", err)
	}
	c.Policy = p
	if c.AllowedOrigins, err = tripsense.ParseOrigins(*origins); err != nil {
		return c, fmt.Errorf("--allowed-origins (TRIPSENSE_ALLOWED_ORIGINS): %s", tripsense.ErrorMessage(err))
	}
	return c, c.Validate()
}

// Validate checks the configuration.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr (TRIPSENSE_ADDR) %q: want host:port: %w", c.Addr, err)
	}
	if c.Retention < 0 {
		return fmt.Errorf("--retention %s: must not be negative (0 keeps everything)", c.Retention)
	}
	if c.WebhookURL != "" {
		if _, err := webhook.NewSender(c.WebhookURL, c.WebhookSecret, 0, nil); err != nil {
			return fmt.Errorf("--webhook-url (TRIPSENSE_WEBHOOK_URL) with TRIPSENSE_WEBHOOK_SECRET: %w", err)
		}
	} else if c.WebhookSecret != "" {
		return errors.New("TRIPSENSE_WEBHOOK_SECRET is set but --webhook-url (TRIPSENSE_WEBHOOK_URL) is not: set both to send webhooks")
	}
	switch c.Auth {
	case "dev":
		if !isLoopback(host) && !c.Insecure {
			return fmt.Errorf("dev identity mode trusts any userId, so it listens only on loopback; --addr (TRIPSENSE_ADDR) %q is not loopback (use --auth token, or --insecure-dev-identity if you really mean it)", c.Addr)
		}
	case "token":
		if len(c.TokenSecret) < 32 {
			return errors.New("token mode needs TRIPSENSE_TOKEN_SECRET of at least 32 bytes")
		}
		if err := auth.CheckSecret(c.TokenSecret); err != nil {
			return fmt.Errorf("TRIPSENSE_TOKEN_SECRET: %w", err)
		}
	default:
		return fmt.Errorf("--auth (TRIPSENSE_AUTH) %q: want dev or token", c.Auth)
	}
	if err := c.AllowedOrigins.CheckIdentityMode(c.Auth == "dev"); err != nil {
		return fmt.Errorf("--allowed-origins (TRIPSENSE_ALLOWED_ORIGINS): %s", tripsense.ErrorMessage(err))
	}
	if c.DebugAddr != "" {
		h, _, err := net.SplitHostPort(c.DebugAddr)
		if err != nil || !isLoopback(h) {
			return fmt.Errorf("--debug-addr (TRIPSENSE_DEBUG_ADDR) %q: must be a loopback host:port", c.DebugAddr)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr (TRIPSENSE_METRICS_ADDR) %q: want host:port", c.MetricsAddr)
		}
	}
	if c.DataDir == "" {
		return errors.New("--data (TRIPSENSE_DATA) is empty")
	}
	if c.MaxConns < 1 {
		return errors.New("--max-connections-per-user (TRIPSENSE_MAX_CONNECTIONS_PER_USER) must be at least 1")
	}
	if c.QueueLimit < 16 {
		return errors.New("--queue-limit (TRIPSENSE_QUEUE_LIMIT) must be at least 16")
	}
	if c.MsgRate <= 0 || c.MsgBurst < 1 {
		return errors.New("--msg-rate (TRIPSENSE_MSG_RATE) must be > 0 and --msg-burst (TRIPSENSE_MSG_BURST) >= 1")
	}
	if c.HeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return errors.New("--header-timeout, --read-timeout, --write-timeout and --idle-timeout (TRIPSENSE_HEADER_TIMEOUT, TRIPSENSE_READ_TIMEOUT, TRIPSENSE_WRITE_TIMEOUT, TRIPSENSE_IDLE_TIMEOUT) must be positive")
	}
	if c.WriteTimeout < c.ReadTimeout {
		// net/http starts the write deadline when the headers are read, so
		// it also covers reading the body.
		return fmt.Errorf("--write-timeout (TRIPSENSE_WRITE_TIMEOUT) %s is shorter than --read-timeout (TRIPSENSE_READ_TIMEOUT) %s: the write timeout runs from the end of the headers, through the body, to the end of the answer", c.WriteTimeout, c.ReadTimeout)
	}
	if c.HTTPRate < 0 || c.ConnectRate < 0 {
		return errors.New("--http-rate (TRIPSENSE_HTTP_RATE) and --connect-rate (TRIPSENSE_CONNECT_RATE) must not be negative")
	}
	if c.ConnLimit < 0 || c.ConnLimitPerIP < 0 {
		return errors.New("--max-connections (TRIPSENSE_MAX_CONNECTIONS) and --max-connections-per-ip (TRIPSENSE_MAX_CONNECTIONS_PER_IP) must not be negative")
	}
	if c.MaxTokenTTL <= 0 {
		return errors.New("--max-token-ttl (TRIPSENSE_MAX_TOKEN_TTL) must be positive")
	}
	if c.ControlRate <= 0 || c.ControlBurst < 1 {
		return errors.New("--control-rate (TRIPSENSE_CONTROL_RATE) must be > 0 and --control-burst (TRIPSENSE_CONTROL_BURST) >= 1")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level (TRIPSENSE_LOG_LEVEL) %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format (TRIPSENSE_LOG_FORMAT) %q: want text or json", c.LogFormat)
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

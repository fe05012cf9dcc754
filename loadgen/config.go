package loadgen

import (
	"github.com/tripsense/tripsense"

	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Modes.
const (
	ModeFanout  = "fanout"
	ModeCatchup = "catchup"
	ModeIdle    = "idle"
	ModeDurable = "durable"
)

// Config is one bench run. Presets fill it; flags set explicitly win.
type Config struct {
	URL    string // base URL of the running server, loopback only
	Preset string // the preset this run came from, "" for none
	Mode   string // fanout, catchup, idle or durable

	// fanout (and latency): Conns connections in rooms of RoomSize; Senders
	// of them send, each with at most Window messages in flight. A message
	// is in flight from its send until its ack and every delivery arrived.
	Conns    int
	RoomSize int
	Senders  int
	Window   int
	// Rate paces sends to this many deliveries per second over the whole
	// run (a send to a room of M members is M-1 deliveries); SendRate paces
	// to this many sends per second. Both 0: unpaced (as fast as the
	// window lets).
	Rate     float64
	SendRate float64
	Size     int // chatMessage bytes
	// ClientMsgIDs is how the clientMsgIds of one sender sort: "ordered"
	// (in send order, like UUIDv7 or ULID: the SDK's kind) or "random"
	// (like UUIDv4). The server's dedupe index pays a random page write
	// per send for random ones.
	ClientMsgIDs string

	Duration time.Duration // send phase cap (per sender count in durable mode)
	Warmup   time.Duration // excluded from rates and latency percentiles
	Messages int64         // cap on sends (per sender count in durable mode)

	// catchup
	Missed  int // messages written while the reader is offline
	Writers int // connections that write them
	Repeat  int // catch-up measurements of each kind

	// idle
	Idle int           // idle connections (rooms of RoomSize; 0: no rooms)
	Hold time.Duration // keep the idle connections open this long after measuring
	PID  int           // server process for RSS (and CPU) readings; 0 for none

	// durable
	SenderCounts []int

	JSON       bool
	CPUProfile string        // write the client's CPU profile here
	Progress   time.Duration // progress line period on stderr; 0 for none
	Prefix     string        // user and room id prefix; a run id is appended
	Admin      string        // dev identity of an admin for member management

	DialParallel  int
	SetupParallel int
	StallTimeout  time.Duration // a slot waiting this long is freed and counted as a stall
	DrainTimeout  time.Duration // wait for in-flight messages after the send phase
}

// defaults is the configuration without a preset.
func defaults() Config {
	return Config{
		URL:           "http://127.0.0.1:8080",
		Mode:          ModeFanout,
		Conns:         100,
		RoomSize:      10,
		Senders:       10,
		Window:        8,
		Size:          100,
		ClientMsgIDs:  "ordered",
		Duration:      10 * time.Second,
		Warmup:        time.Second,
		Messages:      10_000_000,
		Missed:        10_000,
		Writers:       16,
		Repeat:        5,
		Idle:          1000,
		SenderCounts:  []int{1, 16, 64},
		Progress:      time.Second,
		Prefix:        "bench",
		Admin:         "admin",
		DialParallel:  32,
		SetupParallel: 16,
		StallTimeout:  5 * time.Second,
		DrainTimeout:  10 * time.Second,
	}
}

// Preset names, in the order "all" runs them.
var presetNames = []string{"fanout-10", "fanout-100", "fanout-1000", "latency", "peer-10", "peer-10-paced", "peer-1000", "catchup", "idle", "durable"}

// preset returns the configuration of a named scenario over base (the URL
// and other flags that are not part of a preset come from base).
func preset(name string, base Config) (Config, error) {
	c := base
	c.Preset = name
	c.Rate, c.SendRate = 0, 0
	switch name {
	// Saturation presets with many sending connections and a small window
	// (concurrent appends share a group commit; written when the server
	// handled one frame of a connection at a time). The peer-* presets
	// below use a few senders with deep windows (pipelined sends).
	case "fanout-10":
		c.Mode, c.Conns, c.RoomSize, c.Senders, c.Window = ModeFanout, 1000, 10, 1000, 2
		c.Duration, c.Warmup = 10*time.Second, 2*time.Second
	case "fanout-100":
		c.Mode, c.Conns, c.RoomSize, c.Senders, c.Window = ModeFanout, 1000, 100, 100, 2
		c.Duration, c.Warmup = 10*time.Second, 2*time.Second
	case "fanout-1000":
		c.Mode, c.Conns, c.RoomSize, c.Senders, c.Window = ModeFanout, 1000, 1000, 32, 1
		c.Duration, c.Warmup = 10*time.Second, 2*time.Second
	case "latency":
		c.Mode, c.Conns, c.RoomSize, c.Senders, c.Window = ModeFanout, 1000, 10, 1000, 16
		c.Rate = 50_000
		c.Duration, c.Warmup = 10*time.Second, 2*time.Second
	// The shapes a reference server is usually measured in: a few busy
	// publishers with deep windows (pipelined sends), 200-byte messages.
	case "peer-10":
		c.Mode, c.Conns, c.RoomSize, c.Senders, c.Window, c.Size = ModeFanout, 1000, 10, 4, 256, 200
		c.Duration, c.Warmup = 10*time.Second, 2*time.Second
	case "peer-10-paced":
		c.Mode, c.Conns, c.RoomSize, c.Senders, c.Window, c.Size = ModeFanout, 1000, 10, 4, 256, 200
		c.SendRate = 5000
		c.Duration, c.Warmup = 10*time.Second, 2*time.Second
	case "peer-1000":
		c.Mode, c.Conns, c.RoomSize, c.Senders, c.Window, c.Size = ModeFanout, 1000, 1000, 1, 256, 200
		c.Duration, c.Warmup = 10*time.Second, 2*time.Second
	case "catchup":
		c.Mode, c.Missed, c.Writers, c.Repeat, c.Window = ModeCatchup, 10_000, 16, 5, 4
		c.Duration, c.Warmup = 60*time.Second, 0
	case "idle":
		c.Mode, c.Idle, c.RoomSize = ModeIdle, 5000, 10
	case "durable":
		c.Mode, c.SenderCounts, c.Window = ModeDurable, []int{1, 16, 64}, 1
		c.Duration, c.Warmup = 5*time.Second, time.Second
	default:
		return c, fmt.Errorf("unknown preset %q: want one of %s, or all", name, strings.Join(presetNames, ", "))
	}
	return c, nil
}

// intList is a flag of comma-separated positive integers.
type intList struct{ p *[]int }

func (l intList) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, v := range *l.p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l intList) Set(v string) error {
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l.p = out
	return nil
}

// flagSet binds every flag to c, with c's current values as defaults.
func flagSet(c *Config, presetArg *string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tripsense bench [--preset NAME[,NAME...]|all] [flags]\n\n"+
			"Drives a RUNNING server on loopback. Presets: %s.\n"+
			"Start the server with rate limits out of the way, e.g.\n"+
			"  ulimit -n 20000; tripsense --addr 127.0.0.1:8080 --data /tmp/bench-data --msg-rate 1000000 --msg-burst 1000000 --control-rate 1000000 --control-burst 1000000 --http-rate 0 --connect-rate 0 --max-connections-per-ip 0\n\n"+
			"Flags set explicitly override the preset's values.\n\n", strings.Join(presetNames, ", "))
		fs.PrintDefaults()
	}
	fs.StringVar(presetArg, "preset", "", "scenario preset(s): "+strings.Join(presetNames, ", ")+", comma-separated, or all")
	fs.StringVar(&c.URL, "url", c.URL, "server base URL (http:// or ws://); host must be 127.0.0.1, ::1 or localhost")
	fs.StringVar(&c.Mode, "mode", c.Mode, "fanout, catchup, idle or durable (without --preset)")
	fs.IntVar(&c.Conns, "conns", c.Conns, "fanout: WebSocket connections (one user each)")
	fs.IntVar(&c.RoomSize, "room-size", c.RoomSize, "fanout, idle: members per room (each connection's user is in one room)")
	fs.IntVar(&c.Senders, "senders", c.Senders, "fanout: sending connections, spread round-robin over the rooms")
	fs.IntVar(&c.Window, "window", c.Window, "messages in flight per sender (in flight = until its ack and every delivery arrived)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "pace to this many DELIVERIES per second in total (sends/s = rate/(room-size-1)); 0 = unpaced")
	fs.Float64Var(&c.SendRate, "send-rate", c.SendRate, "pace to this many SENDS per second in total; 0 = unpaced (exclusive with --rate)")
	fs.IntVar(&c.Size, "size", c.Size, fmt.Sprintf("chatMessage bytes (%d..16384; carries sender, slot, sequence and send time)", minPayloadSize))
	fs.StringVar(&c.ClientMsgIDs, "client-msg-ids", c.ClientMsgIDs, "fanout: how one sender's clientMsgIds sort: ordered (in send order, like UUIDv7; the SDK's) or random (like UUIDv4)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "send phase cap (durable: per sender count)")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "start of the send phase left out of rates and latency percentiles")
	fs.Int64Var(&c.Messages, "messages", c.Messages, "cap on messages sent (durable: per sender count)")
	fs.IntVar(&c.Missed, "missed", c.Missed, "catchup: messages written while the reader is offline")
	fs.IntVar(&c.Writers, "writers", c.Writers, "catchup: connections writing the missed messages")
	fs.IntVar(&c.Repeat, "repeat", c.Repeat, "catchup: measurements of each kind (median reported)")
	fs.IntVar(&c.Idle, "idle", c.Idle, "idle: idle connections to open")
	fs.DurationVar(&c.Hold, "hold", c.Hold, "idle: keep the connections open this long after measuring (to inspect the server)")
	fs.IntVar(&c.PID, "pid", c.PID, "server process id: RSS per idle connection and server CPU from /proc/PID (Linux)")
	fs.Var(intList{&c.SenderCounts}, "durable-senders", "durable: comma-separated concurrent sender counts")
	fs.BoolVar(&c.JSON, "json", c.JSON, "print the report as JSON on stdout instead of the table")
	fs.StringVar(&c.CPUProfile, "cpuprofile", c.CPUProfile, "write the load generator's own CPU profile to this file (go tool pprof)")
	fs.DurationVar(&c.Progress, "progress", c.Progress, "progress line period on stderr; 0 disables")
	fs.StringVar(&c.Prefix, "prefix", c.Prefix, "prefix of bench user and room ids (a run id is appended, so runs never share rooms)")
	fs.StringVar(&c.Admin, "admin", c.Admin, "admin user id (dev identity) used to add bench users to bench rooms")
	fs.IntVar(&c.DialParallel, "dial-parallel", c.DialParallel, "concurrent WebSocket dials")
	fs.IntVar(&c.SetupParallel, "setup-parallel", c.SetupParallel, "concurrent member-management requests")
	fs.DurationVar(&c.StallTimeout, "stall-timeout", c.StallTimeout, "free a sender's slot after this long without every delivery (counted as a stall)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "wait this long for in-flight messages after the send phase")
	return fs
}

// parseArgs parses the bench flags into one Config per preset (or one for
// no preset). Explicit flags override preset values.
func parseArgs(args []string, stderr io.Writer) ([]Config, error) {
	base := defaults()
	var presetArg string
	fs := flagSet(&base, &presetArg, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if presetArg == "" {
		if err := base.Validate(); err != nil {
			return nil, err
		}
		return []Config{base}, nil
	}
	names := strings.Split(presetArg, ",")
	if presetArg == "all" {
		names = nil
		for _, n := range presetNames {
			if n == "idle" && base.PID == 0 {
				fmt.Fprintln(stderr, "bench: skipping preset idle: it needs --pid of the server")
				continue
			}
			names = append(names, n)
		}
	}
	var out []Config
	for _, name := range names {
		name = strings.TrimSpace(name)
		c, err := preset(name, defaults())
		if err != nil {
			return nil, err
		}
		// Second pass: the preset's values are the defaults, explicit flags win.
		var ignored string
		fs2 := flagSet(&c, &ignored, io.Discard)
		if err := fs2.Parse(args); err != nil {
			return nil, err
		}
		c.Preset = name
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("preset %s: %w", name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// target is a validated server address.
type target struct {
	HostPort string // host:port as given (host may be localhost)
	HTTP     string // http://host:port
	WS       string // ws://host:port/ws
}

// loopbackHosts are the only hosts the generator talks to.
var loopbackHosts = map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true}

// parseTarget validates a --url: http or ws scheme, host 127.0.0.1, ::1 or
// localhost, an explicit port, no credentials, query or path beyond "/" or
// "/ws".
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("--url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
	default:
		return target{}, fmt.Errorf("--url %q: scheme must be http or ws (loopback only)", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return target{}, fmt.Errorf("--url %q: no credentials, query or fragment", raw)
	}
	host := strings.ToLower(u.Hostname())
	if !loopbackHosts[host] {
		return target{}, fmt.Errorf("--url %q: host %q refused: the load generator drives 127.0.0.1, ::1 or localhost only", raw, u.Hostname())
	}
	port := u.Port()
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return target{}, fmt.Errorf("--url %q: needs a port", raw)
	}
	switch u.Path {
	case "", "/", "/ws":
	default:
		return target{}, fmt.Errorf("--url %q: give the server's base URL (path / or /ws)", raw)
	}
	hp := net.JoinHostPort(host, port)
	return target{HostPort: hp, HTTP: "http://" + hp, WS: "ws://" + hp + "/ws"}, nil
}

// validID is the server's id rule: bench ids are written into frames
// without escaping, so they must obey it.
func validID(s string) bool { return tripsense.ValidID(s) }

// Bounds that keep every run finite and the machine usable.
const (
	maxConns    = 100_000
	maxWindow   = 1024
	maxDuration = time.Hour
	maxMissed   = 1_000_000
)

// Validate checks c.
func (c Config) Validate() error {
	if _, err := parseTarget(c.URL); err != nil {
		return err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validID(c.Prefix) || len(c.Prefix) > 64 {
		bad("--prefix %q: 1-64 characters of [A-Za-z0-9_.:@-]", c.Prefix)
	}
	if !validID(c.Admin) {
		bad("--admin %q: not a valid user id", c.Admin)
	}
	if c.ClientMsgIDs != "ordered" && c.ClientMsgIDs != "random" {
		bad("--client-msg-ids %q: want ordered or random", c.ClientMsgIDs)
	}
	if c.Size < minPayloadSize || c.Size > 16384 {
		bad("--size %d: want %d..16384", c.Size, minPayloadSize)
	}
	if c.Duration <= 0 || c.Duration > maxDuration {
		bad("--duration %v: want > 0 and <= %v", c.Duration, maxDuration)
	}
	if c.Warmup < 0 || c.Warmup >= c.Duration {
		bad("--warmup %v: want >= 0 and < --duration", c.Warmup)
	}
	if c.Messages < 1 {
		bad("--messages %d: want >= 1", c.Messages)
	}
	if c.Window < 1 || c.Window > maxWindow {
		bad("--window %d: want 1..%d", c.Window, maxWindow)
	}
	if c.Rate < 0 || c.SendRate < 0 {
		bad("--rate and --send-rate must be >= 0")
	}
	if c.Rate > 0 && c.SendRate > 0 {
		bad("--rate (deliveries/s) and --send-rate (sends/s) are exclusive")
	}
	if c.Progress < 0 {
		bad("--progress must be >= 0")
	}
	if c.PID < 0 {
		bad("--pid must be >= 0")
	}
	if c.DialParallel < 1 || c.DialParallel > 1024 || c.SetupParallel < 1 || c.SetupParallel > 1024 {
		bad("--dial-parallel and --setup-parallel: want 1..1024")
	}
	if c.StallTimeout <= 0 || c.DrainTimeout <= 0 {
		bad("--stall-timeout and --drain-timeout must be > 0")
	}
	switch c.Mode {
	case ModeFanout:
		if c.Conns < 1 || c.Conns > maxConns {
			bad("--conns %d: want 1..%d", c.Conns, maxConns)
		}
		if c.RoomSize < 1 || c.RoomSize > c.Conns {
			bad("--room-size %d: want 1..--conns", c.RoomSize)
		}
		if c.Senders < 1 || c.Senders > c.Conns {
			bad("--senders %d: want 1..--conns", c.Senders)
		}
		if c.Rate > 0 && c.RoomSize < 2 {
			bad("--rate counts deliveries, and rooms of 1 have none: use --send-rate")
		}
	case ModeCatchup:
		if c.Missed < 1 || c.Missed > maxMissed {
			bad("--missed %d: want 1..%d", c.Missed, maxMissed)
		}
		if c.Writers < 1 || c.Writers > 1000 {
			bad("--writers %d: want 1..1000", c.Writers)
		}
		if c.Repeat < 1 || c.Repeat > 100 {
			bad("--repeat %d: want 1..100", c.Repeat)
		}
	case ModeIdle:
		if c.Idle < 1 || c.Idle > maxConns {
			bad("--idle %d: want 1..%d", c.Idle, maxConns)
		}
		if c.RoomSize < 0 {
			bad("--room-size must be >= 0")
		}
		if c.Hold < 0 || c.Hold > maxDuration {
			bad("--hold %v: want 0..%v", c.Hold, maxDuration)
		}
	case ModeDurable:
		if len(c.SenderCounts) == 0 {
			bad("--durable-senders: at least one count")
		}
		for _, n := range c.SenderCounts {
			if n < 1 || n > 10_000 {
				bad("--durable-senders: %d not in 1..10000", n)
			}
		}
	default:
		bad("--mode %q: want fanout, catchup, idle or durable", c.Mode)
	}
	return errors.Join(errs...)
}

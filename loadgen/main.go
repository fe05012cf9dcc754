package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"time"
)

// Main is `tripsense bench`: it parses args, runs each requested scenario
// against the running server in turn, and prints the report (a table, or
// JSON with --json) on stdout and progress on stderr. It returns an error
// when a flag is wrong, the server cannot be reached, or a run lost,
// duplicated or misrouted a message.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfgs, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if path := cfgs[0].CPUProfile; path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	out := Output{Machine: machine(), OK: true}
	runID := strconv.FormatInt(time.Now().UnixMilli()%(36*36*36*36*36*36), 36)
	for i, c := range cfgs {
		if err := ctx.Err(); err != nil {
			break
		}
		prefix := fmt.Sprintf("%s-%s%d", c.Prefix, runID, i)
		rep, limit := runOne(ctx, c, prefix, stderr)
		if limit > out.Machine.FileLimit {
			out.Machine.FileLimit = limit
		}
		if rep.Error != "" || len(rep.Problems) > 0 {
			out.OK = false
		}
		out.Reports = append(out.Reports, rep)
	}
	if c := len(cfgs); len(out.Reports) < c {
		out.OK = false
	}
	if cfgs[0].JSON {
		err = writeJSON(stdout, out)
	} else {
		err = writeTable(stdout, out)
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !out.OK {
		return errors.New("a run failed or lost, duplicated or misrouted messages (see the report)")
	}
	return nil
}

// fdsNeeded is how many file descriptors c's run needs on the client.
func fdsNeeded(c Config) uint64 {
	n := 0
	switch c.Mode {
	case ModeFanout:
		n = c.Conns
	case ModeIdle:
		n = c.Idle
	case ModeCatchup:
		n = c.Writers + 1
	case ModeDurable:
		for _, s := range c.SenderCounts {
			n = max(n, s)
		}
	}
	return uint64(n + c.SetupParallel + c.DialParallel + 64)
}

// runBound caps a whole run: the send phases, their drains, and a generous
// allowance for setup (member management and dials).
func runBound(c Config) time.Duration {
	phases := 1
	if c.Mode == ModeIdle {
		return c.Hold + 5*time.Minute
	}
	if c.Mode == ModeDurable {
		phases = len(c.SenderCounts)
	}
	return time.Duration(phases)*(c.Duration+c.DrainTimeout+15*time.Second) + 5*time.Minute
}

// runOne runs one Config and returns its report and the client's file
// descriptor limit.
func runOne(ctx context.Context, c Config, prefix string, stderr io.Writer) (Report, uint64) {
	rep := Report{Preset: c.Preset, Mode: c.Mode, URL: c.URL, Prefix: prefix, Problems: []string{}}
	t, err := parseTarget(c.URL)
	if err != nil {
		rep.Error = err.Error()
		return rep, 0
	}
	limit, err := raiseFileLimit(fdsNeeded(c))
	if err != nil {
		rep.Error = err.Error()
		return rep, limit
	}
	ctx, cancel := context.WithTimeout(ctx, runBound(c))
	defer cancel()
	r := &runner{cfg: c, t: t, hc: newHTTPClient(c.SetupParallel + 4), dc: newDialClient(), stderr: stderr, prefix: prefix}
	defer r.hc.CloseIdleConnections()
	if err := checkHealth(ctx, r.hc, t); err != nil {
		rep.Error = err.Error()
		return rep, limit
	}
	switch c.Mode {
	case ModeFanout:
		rep.Fanout, err = r.runFanout(ctx)
		if rep.Fanout != nil {
			rep.Problems = append(rep.Problems, rep.Fanout.problems()...)
		}
	case ModeCatchup:
		rep.Catchup, err = r.runCatchup(ctx)
		if cr := rep.Catchup; cr != nil && cr.HTTP.Lost+cr.HTTP.Dups+cr.WS.Lost+cr.WS.Dups > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("catch-up lost/duplicated messages: HTTP %d/%d, WebSocket %d/%d", cr.HTTP.Lost, cr.HTTP.Dups, cr.WS.Lost, cr.WS.Dups))
		}
	case ModeIdle:
		rep.Idle, err = r.runIdle(ctx)
	case ModeDurable:
		rep.Durable, err = r.runDurable(ctx)
		for _, d := range rep.Durable {
			for _, p := range d.Problems {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%d senders: %s", d.Senders, p))
			}
		}
	}
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, limit
}

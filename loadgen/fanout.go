package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"
)

// runner runs the scenarios of one Config against one server.
type runner struct {
	cfg    Config
	t      target
	hc     *http.Client // API calls
	dc     *http.Client // WebSocket dials
	stderr io.Writer
	prefix string // user and room id prefix of this run
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Progress > 0 {
		fmt.Fprintf(r.stderr, "[%s] "+format+"\n", append([]any{r.label()}, args...)...)
	}
}

func (r *runner) label() string {
	if r.cfg.Preset != "" {
		return r.cfg.Preset
	}
	return r.cfg.Mode
}

// FanoutResult is what a fan-out phase measured. Rates are over the
// measured window: from the end of the warm-up to the end of the send
// phase.
type FanoutResult struct {
	Conns                  int     `json:"conns"`
	Rooms                  int     `json:"rooms"`
	RoomSize               int     `json:"roomSize"`
	Senders                int     `json:"senders"`
	Window                 int     `json:"window"`
	SizeBytes              int     `json:"sizeBytes"`
	TargetDeliveriesPerSec float64 `json:"targetDeliveriesPerSec,omitempty"`
	TargetSendsPerSec      float64 `json:"targetSendsPerSec,omitempty"`

	SetupSec    float64 `json:"setupSec"`
	DialSec     float64 `json:"dialSec"`
	DurationSec float64 `json:"durationSec"`
	MeasuredSec float64 `json:"measuredSec"`

	Sent            int64   `json:"sent"`
	Acked           int64   `json:"acked"`
	Delivered       int64   `json:"delivered"`
	SendsPerSec     float64 `json:"sendsPerSec"`
	AcksPerSec      float64 `json:"acksPerSec"`
	DeliveredPerSec float64 `json:"deliveredPerSec"`

	Latency    LatencySummary `json:"latency"`
	AckLatency LatencySummary `json:"ackLatency"`
	Loss       Loss           `json:"loss"`

	Drained             bool     `json:"drained"`
	DrainMs             float64  `json:"drainMs"`
	Stalls              int64    `json:"stalls"`
	LateSends           int64    `json:"lateSends"`
	SendErrors          int64    `json:"sendErrors"`
	WriteErrors         int64    `json:"writeErrors"`
	ServerDuplicateAcks int64    `json:"serverDuplicateAcks"`
	ClosedEarly         int64    `json:"closedEarly"`
	ErrorCodes          []string `json:"errorCodes,omitempty"`
	CloseCodes          []string `json:"closeCodes,omitempty"`
	ClientCores         float64  `json:"clientCores"`
	ServerCores         float64  `json:"serverCores"`  // -1 without --pid
	MachineCores        float64  `json:"machineCores"` // busy cores of the whole machine, -1 when unknown
}

// problems lists what makes the phase's result wrong, not just slow.
func (f *FanoutResult) problems() []string {
	var out []string
	l := f.Loss
	if !l.OK() {
		out = append(out, fmt.Sprintf("lost %d deliveries (%d messages), %d duplicates, %d duplicate acks, %d foreign, %d bad frames",
			l.LostDeliveries, l.LostMessages, l.Dups, l.DupAcks, l.Foreign, l.Bad))
	}
	if f.Acked == 0 {
		out = append(out, "no message was acknowledged")
	}
	if f.SendErrors > 0 {
		out = append(out, fmt.Sprintf("%d sends answered with an error frame (%v)", f.SendErrors, f.ErrorCodes))
	}
	if f.ClosedEarly > 0 {
		out = append(out, fmt.Sprintf("%d connections closed by the server during the run (%v)", f.ClosedEarly, f.CloseCodes))
	}
	if f.WriteErrors > 0 {
		out = append(out, fmt.Sprintf("%d sends failed to write", f.WriteErrors))
	}
	if f.ServerDuplicateAcks > 0 {
		out = append(out, fmt.Sprintf("%d acks flagged duplicate by the server", f.ServerDuplicateAcks))
	}
	return out
}

// fanoutPhase sets up p's members and connections, runs the send phase and
// accounts it. The connections are closed when it returns.
func (r *runner) fanoutPhase(ctx context.Context, p fanoutParams) (*FanoutResult, error) {
	e := newEngine(p, r.stderr)
	pairs := p.plan.memberships()
	r.logf("adding %d members to %d rooms", len(pairs), len(p.plan.rooms))
	t0 := time.Now()
	if err := addMembers(ctx, r.hc, r.t, r.cfg.Admin, pairs, r.cfg.SetupParallel); err != nil {
		return nil, err
	}
	setup := time.Since(t0)
	r.logf("opening %d connections", len(p.plan.users))
	t1 := time.Now()
	err := dialAllRaw(ctx, r.t, p.plan.users, r.cfg.DialParallel, func(i int, ws *rawConn) {
		e.conns[i].ws = ws
		go e.readLoop(e.conns[i])
	})
	if err != nil {
		return nil, err
	}
	defer e.closeAll()
	dial := time.Since(t1)
	r.logf("%d connections open in %.1fs; sending for up to %v", len(e.conns), dial.Seconds(), p.duration)

	cpu := startCPU(r.cfg.PID)
	ph := e.run(ctx)
	use := cpu.stop()
	e.closeAll()

	res := &FanoutResult{
		Conns: len(p.plan.users), Rooms: len(p.plan.rooms), Senders: len(p.plan.senders),
		Window: p.window, SizeBytes: p.size,
		SetupSec: round3(setup.Seconds()), DialSec: round3(dial.Seconds()),
		DurationSec: round3(ph.stop.at.Sub(ph.start.at).Seconds()),
		Sent:        e.sent.Load(), Acked: e.acked.Load(), Delivered: e.delivered.Load(),
		AckLatency: e.ackLat.Summary(),
		Loss:       e.loss(),
		Drained:    ph.drained, DrainMs: round3(float64(ph.drainTime) / 1e6),
		Stalls: e.stalls.Load(), LateSends: e.late.Load(),
		SendErrors: e.sendErrors.Load(), WriteErrors: e.writeErrors.Load(),
		ServerDuplicateAcks: e.serverDupAcks.Load(), ClosedEarly: e.closedEarly.Load(),
		ClientCores: round3(use.client), ServerCores: round3(use.server), MachineCores: round3(use.machine),
	}
	if len(p.plan.members) > 0 {
		res.RoomSize = len(p.plan.members[0])
	}
	e.mu.Lock()
	res.ErrorCodes, res.CloseCodes = sortedCounts(e.errCodes), sortedCounts(e.closeCodes)
	e.mu.Unlock()
	// The measured window: after the warm-up, or the whole phase when the
	// phase ended first (message cap).
	from := ph.warm
	if !from.at.After(ph.start.at) || ph.stop.at.Sub(from.at) < 100*time.Millisecond {
		from = ph.start
	}
	win := ph.stop.at.Sub(from.at).Seconds()
	res.MeasuredSec = round3(win)
	if win > 0 {
		res.SendsPerSec = round1(float64(ph.stop.sent-from.sent) / win)
		res.AcksPerSec = round1(float64(ph.stop.acked-from.acked) / win)
		res.DeliveredPerSec = round1(float64(ph.stop.delivered-from.delivered) / win)
	}
	res.Latency = e.lat.Summary()
	if res.Latency.Count == 0 {
		res.Latency = e.latAll.Summary()
	}
	if p.interval > 0 {
		sendsPerSec := float64(len(p.plan.senders)) / p.interval.Seconds()
		res.TargetSendsPerSec = round1(sendsPerSec)
		if res.RoomSize > 1 {
			res.TargetDeliveriesPerSec = round1(sendsPerSec * float64(res.RoomSize-1))
		}
	}
	return res, nil
}

// sendInterval turns the configured pace into the gap between two sends of
// one sender (0: unpaced).
func sendInterval(c Config, senders, roomSize int) time.Duration {
	sendsPerSec := c.SendRate
	if c.Rate > 0 && roomSize > 1 {
		sendsPerSec = c.Rate / float64(roomSize-1)
	}
	if sendsPerSec <= 0 {
		return 0
	}
	return time.Duration(float64(senders) / sendsPerSec * float64(time.Second))
}

func (r *runner) params(label string, p plan, c Config) fanoutParams {
	return fanoutParams{
		label: label, plan: p, window: c.Window,
		interval: sendInterval(c, len(p.senders), min(c.RoomSize, len(p.users))),
		size:     c.Size, randomIDs: c.ClientMsgIDs == "random", duration: c.Duration, warmup: c.Warmup, messages: c.Messages,
		progress: c.Progress, stallTimeout: c.StallTimeout, drainTimeout: c.DrainTimeout,
	}
}

// runFanout is the fanout mode (the fanout-N and latency presets).
func (r *runner) runFanout(ctx context.Context) (*FanoutResult, error) {
	c := r.cfg
	p := planRooms(r.prefix, c.Conns, c.RoomSize, c.Senders)
	return r.fanoutPhase(ctx, r.params(r.label(), p, c))
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

package webhook

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tripsense/tripsense"
)

// Retry defaults: the first retry after MinBackoff, doubling up to
// MaxBackoff, for MaxAge after the event was recorded (so at least 24 h of
// retries), then the event is marked failed until replayed.
const (
	DefaultMinBackoff   = 2 * time.Second
	DefaultMaxBackoff   = 30 * time.Minute
	DefaultMaxAge       = 25 * time.Hour
	DefaultPoll         = time.Second
	DefaultConcurrency  = 8
	maxLastErrorBytes   = 512
	dispatchBatchLimit  = 256
	maxShiftForBackoffs = 30
	maxPassesInARow     = 64
)

// Backoff is the delay after the attempts-th failed attempt: min *
// 2^(attempts-1), at most max.
func Backoff(attempts int, min, max time.Duration) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	if attempts > maxShiftForBackoffs {
		return max
	}
	d := min << (attempts - 1)
	if d > max || d <= 0 {
		return max
	}
	return d
}

// Dispatcher delivers the outbox of the single binary: it reads due
// entries, builds and sends their events, and records each outcome in the
// store (delivered: removed; failed: attempts, next attempt, last error;
// too old: failed). It runs apart from sends: a slow or dead receiver only
// delays the outbox, never an append.
type Dispatcher struct {
	Outbox tripsense.OutboxStore
	Source Source
	Online Online // nil: every member counts as offline
	Sender *Sender

	MinBackoff, MaxBackoff, MaxAge, Poll time.Duration
	Concurrency                          int
	Now                                  func() time.Time
	Log                                  *slog.Logger
	// Observer, when set, is told the outcome and duration of every
	// attempt (metrics).
	Observer Observer

	poke chan struct{}
	once sync.Once
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.poke = make(chan struct{}, 1)
		if d.MinBackoff <= 0 {
			d.MinBackoff = DefaultMinBackoff
		}
		if d.MaxBackoff <= 0 {
			d.MaxBackoff = DefaultMaxBackoff
		}
		if d.MaxAge <= 0 {
			d.MaxAge = DefaultMaxAge
		}
		if d.Poll <= 0 {
			d.Poll = DefaultPoll
		}
		if d.Concurrency <= 0 {
			d.Concurrency = DefaultConcurrency
		}
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Log == nil {
			d.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Notify asks for a pass at once (new entries were recorded); it never blocks.
func (d *Dispatcher) Notify() {
	d.init()
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: one pass at every Notify and every Poll.
func (d *Dispatcher) Run(ctx context.Context) {
	d.init()
	t := time.NewTicker(d.Poll)
	defer t.Stop()
	for {
		// A full batch means more may be due: go on, up to maxPassesInARow
		// batches before the next wait (a store that keeps failing to
		// record outcomes cannot spin the loop).
		for n := 0; n < maxPassesInARow && ctx.Err() == nil && d.Pass(ctx) == dispatchBatchLimit; n++ {
		}
		select {
		case <-ctx.Done():
			return
		case <-d.poke:
		case <-t.C:
		}
	}
}

// Pass delivers the entries due now, Concurrency at a time, and returns
// how many it tried.
func (d *Dispatcher) Pass(ctx context.Context) int {
	d.init()
	due, err := d.Outbox.OutboxDue(ctx, d.Now(), dispatchBatchLimit)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Error("webhook outbox", "err", err)
		}
		return 0
	}
	sem := make(chan struct{}, d.Concurrency)
	var wg sync.WaitGroup
	for _, e := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func(e tripsense.OutboxEntry) {
			defer func() { <-sem; wg.Done() }()
			d.deliver(ctx, e)
		}(e)
	}
	wg.Wait()
	return len(due)
}

func (d *Dispatcher) deliver(ctx context.Context, e tripsense.OutboxEntry) {
	now := d.Now()
	start := time.Now()
	outcome, err := Deliver(ctx, d.Source, d.Online, d.Sender, e.Room, e.Index, now, d.Log)
	if err == nil {
		d.observe(outcome, start)
		d.done(ctx, e)
		d.Log.Debug("webhook "+outcome, "id", tripsense.EventID(e.Room, e.Index), "attempts", e.Attempts+1)
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the entry stays as it was
	}
	e.Attempts++
	e.LastError = err.Error()
	if len(e.LastError) > maxLastErrorBytes {
		e.LastError = e.LastError[:maxLastErrorBytes]
	}
	e.NextAt = now.Add(Backoff(e.Attempts, d.MinBackoff, d.MaxBackoff))
	if now.Sub(e.CreatedAt) >= d.MaxAge {
		e.Failed = true
		d.observe(Expired, start)
		d.Log.Error("webhook failed for good (replay it with tripsense webhooks replay)", "id", tripsense.EventID(e.Room, e.Index), "attempts", e.Attempts, "err", e.LastError)
	} else {
		d.observe(Failed, start)
		d.Log.Warn("webhook attempt failed", "id", tripsense.EventID(e.Room, e.Index), "attempts", e.Attempts, "retry_in", e.NextAt.Sub(now), "err", e.LastError)
	}
	if uerr := d.Outbox.OutboxUpdate(ctx, e); uerr != nil {
		d.Log.Error("webhook outbox update", "err", uerr)
	}
}

func (d *Dispatcher) observe(outcome string, start time.Time) {
	if d.Observer != nil {
		d.Observer.WebhookAttempt(outcome, time.Since(start))
	}
}

func (d *Dispatcher) done(ctx context.Context, e tripsense.OutboxEntry) {
	if err := d.Outbox.OutboxDone(ctx, e.Seq); err != nil {
		d.Log.Error("webhook outbox done", "seq", e.Seq, "err", err)
	}
}

// Status summarises the outbox for operators.
type Status struct {
	Pending int                     `json:"pending"`
	Failed  int                     `json:"failed"`
	Events  []tripsense.OutboxEntry `json:"-"`
}

// ReadStatus lists up to limit entries of the outbox with the counts
// among them.
func ReadStatus(ctx context.Context, o tripsense.OutboxStore, limit int) (Status, error) {
	es, err := o.OutboxList(ctx, limit)
	if err != nil {
		return Status{}, err
	}
	st := Status{Events: es}
	for _, e := range es {
		if e.Failed {
			st.Failed++
		} else {
			st.Pending++
		}
	}
	return st, nil
}

// The outcomes of one delivery attempt (Observer, and the result label of
// tripsense_webhook_deliveries_total).
const (
	Delivered = "delivered" // the receiver answered 2xx
	Failed    = "failed"    // the attempt failed; the event is retried
	Expired   = "expired"   // the attempt failed and was the last: the event waits for a replay (single binary, after MaxAge)
	Gone      = "gone"      // the entry is no longer stored (retention): nothing to send
)

// Observer is told about every delivery attempt: its outcome (Delivered,
// Failed, Expired or Gone) and how long it took. package metrics
// implements it; the webhook packages never see Prometheus.
type Observer interface {
	WebhookAttempt(outcome string, d time.Duration)
}

// Deliver builds the event of (room, index) and sends it once: the one
// delivery step of both runtimes (the Dispatcher's outbox here, the
// DynamoDB stream consumer on AWS); the caller owns retries. It returns the
// attempt's outcome: Delivered, Gone (an entry no longer stored is logged
// and counts as done: nothing to send) or, with the error, Failed.
func Deliver(ctx context.Context, src Source, online Online, snd *Sender, room string, index int64, now time.Time, log *slog.Logger) (string, error) {
	ev, err := Build(ctx, src, online, room, index, now)
	if errors.Is(err, ErrGone) {
		if log != nil {
			log.Warn("webhook: entry gone before its event was sent", "room", room, "index", index)
		}
		return Gone, nil
	}
	if err == nil {
		err = snd.Send(ctx, ev, now)
	}
	if err != nil {
		return Failed, err
	}
	return Delivered, nil
}

// Backlog is what waits in an outbox: pending events (not yet delivered,
// retrying), failed ones (waiting for a replay) and the creation time of
// the oldest pending one (zero when none is pending).
type Backlog struct {
	Pending, Failed int
	Oldest          time.Time
}

// backlogCounter is an outbox that counts itself without reading every
// entry (store/bolt).
type backlogCounter interface {
	OutboxBacklog(ctx context.Context) (pending, failed int, oldest time.Time, err error)
}

// backlogListLimit bounds the entries ReadBacklog lists from an outbox
// that cannot count itself.
const backlogListLimit = 100000

// ReadBacklog reads o's backlog: from the store's own counts when it has
// them (store/bolt), else from a listing of at most 100,000 entries.
func ReadBacklog(ctx context.Context, o tripsense.OutboxStore) (Backlog, error) {
	if bc, ok := o.(backlogCounter); ok {
		p, f, oldest, err := bc.OutboxBacklog(ctx)
		return Backlog{Pending: p, Failed: f, Oldest: oldest}, err
	}
	es, err := o.OutboxList(ctx, backlogListLimit)
	if err != nil {
		return Backlog{}, err
	}
	var b Backlog
	for _, e := range es {
		if e.Failed {
			b.Failed++
			continue
		}
		b.Pending++
		if b.Oldest.IsZero() || e.CreatedAt.Before(b.Oldest) {
			b.Oldest = e.CreatedAt
		}
	}
	return b, nil
}

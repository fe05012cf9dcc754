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
	err := Deliver(ctx, d.Source, d.Online, d.Sender, e.Room, e.Index, now, d.Log)
	if err == nil {
		d.done(ctx, e)
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
		d.Log.Error("webhook failed for good (replay it with tripsense webhooks replay)", "id", tripsense.EventID(e.Room, e.Index), "attempts", e.Attempts, "err", e.LastError)
	} else {
		d.Log.Warn("webhook attempt failed", "id", tripsense.EventID(e.Room, e.Index), "attempts", e.Attempts, "retry_in", e.NextAt.Sub(now), "err", e.LastError)
	}
	if uerr := d.Outbox.OutboxUpdate(ctx, e); uerr != nil {
		d.Log.Error("webhook outbox update", "err", uerr)
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

// Deliver builds the event of (room, index) and sends it once: the one
// delivery step of both runtimes (the Dispatcher's outbox here, the
// DynamoDB stream consumer on AWS); the caller owns retries. An entry no
// longer stored is logged and counts as delivered (nothing to send).
func Deliver(ctx context.Context, src Source, online Online, snd *Sender, room string, index int64, now time.Time, log *slog.Logger) error {
	ev, err := Build(ctx, src, online, room, index, now)
	if errors.Is(err, ErrGone) {
		if log != nil {
			log.Warn("webhook: entry gone before its event was sent", "room", room, "index", index)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return snd.Send(ctx, ev, now)
}

package bolt

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	"golang.org/x/sync/semaphore"
)

// op is one write: fn runs inside the committer's transaction. fn may run
// more than once (when another write of the same batch fails, the batch is
// rolled back and run again without it), so it must have no effect outside
// the transaction except overwriting its own result fields.
type op struct {
	fn func(tx *bbolt.Tx) error
	// after, if set, runs once the op's commit is over, whatever its
	// outcome, before done is closed (it must be safe to run when the
	// write failed): it keeps what the store holds in memory true to the
	// file (memberCache).
	after func()
	err   error         // the commit's outcome, set before done is closed
	done  chan struct{} // closed once err is set (after the commit)
	// weight is the bytes of an append's message: enqueue takes them from
	// the store's queued budget, finish gives them back (budget is nil
	// while the op holds none).
	weight int64
	budget *byteBudget
	// append is the op's append (nil for every other write): its room
	// and, once run, its index.
	append *appendOp
	// barrier marks a read's wait for the checkpoint (Store.barrier): it
	// has no fn.
	barrier bool
	// logged says fn records its writes through recorder{log}, so the
	// write-ahead log may take the op (appends, dedupe prunes, outbox
	// outcomes, see newLoggedOp and setKV); log is set by the log's commit for one
	// run.
	logged bool
	log    *wal
	// inKV, when set (setKV: appends, webhook outcomes), is the op's
	// writes against a kv: fn runs it in bbolt, and the log may run it in
	// its layers while a checkpoint commits.
	inKV func(kv) error
	// deferrable marks a dedupe prune that appends queued: nobody waits
	// for it, so while a checkpoint commits in the background the log
	// runs it after that checkpoint, and the appends of its batch go on.
	deferrable bool
}

// byteBudget bounds the bytes of the messages queued for the committer or
// in its commit under way (Options.MaxQueuedBytes).
type byteBudget struct {
	sem  *semaphore.Weighted
	max  int64
	held atomic.Int64 // Stats.QueuedBytes
}

func newByteBudget(size int64) *byteBudget {
	return &byteBudget{sem: semaphore.NewWeighted(size), max: size}
}

// acquire waits (bounded by ctx) for n bytes, at most the whole budget so
// that one message always fits, and returns how many it took.
func (b *byteBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(n, b.max)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	b.held.Add(n)
	return n, nil
}

func (b *byteBudget) release(n int64) {
	b.held.Add(-n)
	b.sem.Release(n)
}

func newOp(fn func(tx *bbolt.Tx) error) *op { return &op{fn: fn, done: make(chan struct{})} }

// setKV makes o a logged op whose writes fn makes against a kv: in bbolt
// (fn, through the recorder the log sets for a run) or in the log's
// layers (inKV).
func (o *op) setKV(fn func(kv) error) {
	o.logged, o.inKV = true, fn
	o.fn = func(tx *bbolt.Tx) error { return fn(txKV{tx: tx, r: recorder{o.log}}) }
}

// finish records the outcome of o and wakes its waiter.
func (o *op) finish(err error) {
	o.releaseBudget()
	if o.after != nil {
		o.after()
	}
	o.err = err
	close(o.done)
}

// write queues fn and waits until the transaction that ran it has
// committed (and, unless NoSync, synced). If ctx ends first, write returns
// ctx.Err() and the write may still commit.
func (s *Store) write(ctx context.Context, opName string, fn func(tx *bbolt.Tx) error) error {
	return s.writeThen(ctx, opName, fn, nil)
}

// writeThen is write with an op.after: after runs once the commit is
// over, even when write returned early because ctx ended.
func (s *Store) writeThen(ctx context.Context, opName string, fn func(tx *bbolt.Tx) error, after func()) error {
	o := newOp(fn)
	o.after = after
	return s.submit(ctx, opName, o)
}

// submit queues o and waits for its commit (see write).
func (s *Store) submit(ctx context.Context, opName string, o *op) error {
	if err := s.enqueue(ctx, o); err != nil {
		o.finish(err)
		return fmt.Errorf("bolt: %s: %w", opName, err)
	}
	return s.await(ctx, opName, o)
}

// await waits for the commit of a queued op (see write).
func (s *Store) await(ctx context.Context, opName string, o *op) error {
	select {
	case <-o.done:
		if err := o.err; err != nil {
			return fmt.Errorf("bolt: %s: %w", opName, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bolt: %s: %w", opName, ctx.Err())
	}
}

// enqueue queues o for the committer, first taking o.weight bytes of the
// queued budget (MaxQueuedBytes), waiting for both (bounded by ctx).
func (s *Store) enqueue(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.weight > 0 {
		n, err := s.queued.acquire(ctx, o.weight)
		if err != nil {
			return err
		}
		o.weight, o.budget = n, s.queued
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		o.releaseBudget()
		return ErrClosed
	}
	select {
	case s.queue <- o:
		return nil
	case <-ctx.Done():
		o.releaseBudget()
		return ctx.Err()
	}
}

// releaseBudget gives back the bytes o holds of the queued budget, once.
func (o *op) releaseBudget() {
	if o.budget != nil {
		o.budget.release(o.weight)
		o.budget = nil
	}
}

// commitLoop is the only writer. It commits in one transaction every op
// queued while the previous commit was running (up to MaxBatch), so
// concurrent writers share one fsync pair and a lone writer waits for no
// timer. Because the writers of one commit come back together right after
// it, a batch smaller than the previous one waits up to MaxBatchDelay for
// them to arrive, and the expected size follows the load down when they do
// not. The loop exits when the queue is closed and drained.
func (s *Store) commitLoop() {
	defer close(s.committed)
	if s.wal != nil {
		defer func() {
			if err := s.wal.close(s); err != nil {
				s.closeErr = err
			}
		}()
	}
	batch := make([]*op, 0, s.opts.MaxBatch)
	expect := 1
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		o, ok := s.next()
		if !ok {
			return
		}
		batch = append(batch[:0], o)
		open := s.fill(&batch)
		if open && len(batch) < expect && s.opts.MaxBatchDelay > 0 {
			timer.Reset(s.opts.MaxBatchDelay)
		wait:
			for len(batch) < expect {
				select {
				case o, ok := <-s.queue:
					if !ok {
						break wait
					}
					batch = append(batch, o)
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
			s.fill(&batch)
		}
		expect = len(batch)
		s.commit(batch)
		clear(batch)
	}
}

// next waits for the next queued op, or returns an op the log set aside
// until the checkpoint in flight landed (wal.later). While the log's overlay is open, it
// checkpoints the overlay once it is CheckpointInterval old if no op came
// by then, so an idle store's appends do not wait in the log.
func (s *Store) next() (*op, bool) {
	for {
		w := s.wal
		switch {
		case w != nil && !w.inflight && len(w.later) > 0:
			o := w.later[0]
			w.later = w.later[1:]
			return o, true
		case w != nil && w.inflight:
			select {
			case o, ok := <-s.queue:
				return o, ok
			case out := <-w.done:
				w.landed(s, out)
			}
		case w == nil || w.tx == nil:
			o, ok := <-s.queue
			return o, ok
		default:
			w.timer.Reset(time.Until(w.opened.Add(s.opts.CheckpointInterval)))
			select {
			case o, ok := <-s.queue:
				w.timer.Stop()
				return o, ok
			case <-w.timer.C:
				w.freeze(s)
			}
		}
	}
}

// fill appends the ops already queued to batch, up to MaxBatch, without
// waiting. It reports whether the queue is still open.
func (s *Store) fill(batch *[]*op) bool {
	for len(*batch) < s.opts.MaxBatch {
		select {
		case o, ok := <-s.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, o)
		default:
			return true
		}
	}
	return true
}

// commit runs the ops of batch in one transaction. An op that fails is
// taken out and gets its error; the others are run again without it.
func (s *Store) commit(batch []*op) {
	if w := s.wal; w != nil {
		if w.commit(s, batch) {
			return
		}
		batch = w.direct(batch)
	}
	for len(batch) > 0 {
		failed := -1
		start := time.Now()
		var pages int64
		err := s.db.Update(func(tx *bbolt.Tx) error {
			// Commit handlers run once the transaction is written and
			// closed; its statistics are final then.
			tx.OnCommit(func() { st := tx.Stats(); pages = st.GetWrite() })
			for i, o := range batch {
				if err := o.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].finish(err)
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		if err == nil && experimentAfterCommit != nil {
			err = experimentAfterCommit(len(batch))
		}
		if err == nil {
			s.pageWrites.Add(pages)
			s.observeCommit(len(batch), pages, 0, start)
		}
		for _, o := range batch {
			o.finish(err)
		}
		return
	}
}

// The experiment hooks are nil except in a build with the tag
// tripsense_syncexp (syncexp.go): the benchmark experiments that measure
// what the durable commit costs the server by replacing bbolt's fdatasyncs
// (docs/benchmarks.md, "What durability costs").
var (
	experimentAfterCommit func(writes int) error
	experimentOpen        func(s *Store) error
)

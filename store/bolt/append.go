package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
)

// maxPrunePerCommit bounds the expired dedupe records one commit deletes,
// so pruning never makes one commit long.
const maxPrunePerCommit = 1000

// Append durably stores m with the room's next index (see
// tripsense.MessageStore). It returns after the commit that holds the
// message, its index and its dedupe record has synced. A zero CreateTime is
// set to now; CreateTime is kept at millisecond precision. If Append returns
// an error the message may or may not be stored: retry with the same
// ClientMsgID.
func (s *Store) Append(ctx context.Context, m tripsense.NewMessage) (tripsense.Message, bool, error) {
	return s.AppendQueued(ctx, m).Result()
}

// AppendQueued queues m like Append and returns without waiting for the
// commit: its Done is closed once the commit that holds the message synced
// (or failed), and its Result returns what Append would have, waiting for
// Done (bounded by ctx) if it is not closed yet. Appends are committed in
// the order they were queued, so the messages of one room that one
// goroutine queues get increasing indexes, and queued appends of many
// goroutines share commits. AppendQueued blocks only while the committer's
// queue is full (bounded by ctx).
func (s *Store) AppendQueued(ctx context.Context, m tripsense.NewMessage) tripsense.QueuedAppend {
	now := s.opts.Now()
	if m.CreateTime.IsZero() {
		m.CreateTime = now
	}
	createMs := m.CreateTime.UnixMilli()
	a := &QueuedAppend{appendOp: appendOp{
		room:     m.Room,
		value:    encodeMessage(&m, createMs),
		nowMs:    now.UnixMilli(),
		outbox:   s.opts.Outbox,
		decided:  m.Decided(),
		m:        m,
		createMs: createMs,
	}, s: s, ctx: ctx, now: now}
	if m.ClientMsgID != "" {
		a.dk = dedupeKey(m.Room, m.UserID, m.ClientMsgID)
	}
	a.op = op{done: make(chan struct{}), weight: int64(len(a.value)), append: &a.appendOp}
	a.op.setKV(a.runIn)
	if a.queueErr = s.enqueue(ctx, &a.op); a.queueErr != nil {
		a.op.finish(a.queueErr)
	}
	return a
}

// QueuedAppend is an append AppendQueued queued: a tripsense.QueuedAppend.
type QueuedAppend struct {
	appendOp
	op       op
	s        *Store
	ctx      context.Context
	now      time.Time
	queueErr error // the queue refused it
}

// Done is closed once the commit that holds the message is over.
func (a *QueuedAppend) Done() <-chan struct{} { return a.op.done }

// Result returns what Append would have: the stored message and whether
// it is a duplicate of an earlier send. It waits for Done, bounded by the
// ctx given to AppendQueued.
func (a *QueuedAppend) Result() (tripsense.Message, bool, error) {
	if a.queueErr != nil {
		return tripsense.Message{}, false, fmt.Errorf("bolt: append: %w", a.queueErr)
	}
	if err := a.s.await(a.ctx, "append", &a.op); err != nil {
		return tripsense.Message{}, false, err
	}
	if a.refused != nil {
		return tripsense.Message{}, false, a.refused
	}
	if a.dup {
		return *a.original, true, nil
	}
	a.s.maybePrune(a.ctx, a.now)
	m := &a.m
	return tripsense.Message{Room: m.Room, Index: a.index, UserID: m.UserID, Body: m.Body, Type: m.Type,
		CreateTime: msTime(a.createMs), ClientMsgID: m.ClientMsgID, Kind: m.Kind, Target: m.Target,
		ReplyTo: m.ReplyTo, Reaction: m.Reaction, Remove: m.Remove}, false, nil
}

// appendOp allocates the next index of room and stores the message and its
// dedupe record in the committer's transaction.
type appendOp struct {
	room  string
	value []byte // encoded message
	dk    []byte // dedupe key; nil without clientMsgId
	nowMs int64
	// outbox records an outbox entry for the message in the same transaction.
	outbox bool
	// m is the entry, createMs its time. When a rule decides it (an
	// event, or a reply), ApplyEvent or CheckReply run in the transaction
	// (lifecycle.go).
	m        tripsense.NewMessage
	decided  bool
	createMs int64

	// results, overwritten by every run
	index    int64
	dup      bool
	original *tripsense.Message // set with dup (a pointer: most appends are not)
	refused  error              // the rule refused the entry; nothing was written
}

// runIn runs the append against kv: bbolt's transaction (txKV), or the
// write-ahead log's layers while a checkpoint commits (layerKV).
func (a *appendOp) runIn(kv kv) error {
	a.index, a.dup, a.original, a.refused = 0, false, nil, nil
	if a.dk != nil {
		if rec := kv.get(logDedupe, a.dk); rec != nil {
			index, ok1 := getU64(rec, 0)
			atMs, ok2 := getU64(rec, 8)
			if !ok1 || !ok2 {
				return fmt.Errorf("dedupe record: %w", errCorrupt)
			}
			if time.Duration(a.nowMs-atMs)*time.Millisecond < tripsense.DedupeTTL {
				v := kv.get(logMessages, messageKey(a.room, index))
				if v == nil {
					if oldest, err := kv.oldest(a.room); err == nil && index < oldest {
						// Retention removed the original: say which index it had.
						a.dup, a.original = true, &tripsense.Message{Room: a.room, Index: index}
						return nil
					}
					return fmt.Errorf("message %d of the dedupe record is missing: %w", index, errCorrupt)
				}
				orig, err := decodeMessage(a.room, index, v)
				if err != nil {
					return err
				}
				a.dup, a.original = true, &orig
				return nil
			}
			// Expired and not yet pruned: this send is a new message, and
			// its record replaces the old one.
		}
	}
	roomKey := []byte(a.room)
	var head int64
	if v := kv.get(logHeads, roomKey); v != nil {
		h, ok := getU64(v, 0)
		if !ok {
			return fmt.Errorf("head of %q: %w", a.room, errCorrupt)
		}
		head = h
	}
	index := head + 1
	if a.decided {
		// The rule decides before anything is written: a refusal leaves
		// the transaction untouched, so the batch needs no rerun.
		var err error
		if a.refused, err = a.decide(kv, index); a.refused != nil || err != nil {
			return err
		}
	}
	if err := kv.put(logMessages, messageKey(a.room, index), a.value); err != nil {
		return err
	}
	if err := kv.put(logHeads, roomKey, u64(index)); err != nil {
		return err
	}
	if a.dk != nil {
		rec := make([]byte, 16)
		copy(rec, u64(index))
		copy(rec[8:], u64(a.nowMs))
		if err := kv.put(logDedupe, a.dk, rec); err != nil {
			return err
		}
	}
	if a.outbox {
		seq, err := kv.nextSequence(logOutbox)
		if err != nil {
			return err
		}
		if err := kv.put(logOutbox, binary.BigEndian.AppendUint64(nil, seq), newOutboxEntry(a.room, index, a.nowMs)); err != nil {
			return err
		}
	}
	a.index = index
	return nil
}

// maybePrune queues a prune of expired dedupe records when the last one is
// older than DedupePruneInterval or pruneEvery dedupe records were written
// since, sized to examine twice what was written (so the scan keeps up
// with any send rate). It does not wait for it.
func (s *Store) maybePrune(ctx context.Context, now time.Time) {
	written := s.dedupeWrites.Add(1)
	last := s.lastPruneMs.Load()
	if written < pruneEvery && now.Sub(msTime(last)) < s.opts.DedupePruneInterval {
		return
	}
	if !s.lastPruneMs.CompareAndSwap(last, now.UnixMilli()) {
		return // another append is queuing it
	}
	written = s.dedupeWrites.Swap(0)
	budget := min(max(maxPrunePerCommit, 2*int(written)), maxPruneExamined)
	_ = s.queuePrune(context.WithoutCancel(ctx), now.UnixMilli(), budget) // a failed prune is retried at the next one
}

// queuePrune queues a prune of up to budget dedupe records at nowMs and
// returns it without waiting. The write-ahead log takes it (its deletes
// are recorded), so a prune does not checkpoint the log, and may run it
// after a checkpoint in flight (deferrable).
func (s *Store) queuePrune(ctx context.Context, nowMs int64, budget int) *op {
	o := newLoggedOp(func(tx *bbolt.Tx, r recorder) error {
		_, err := s.pruneDedupe(tx, nowMs, budget, r)
		return err
	})
	o.deferrable = true
	if err := s.enqueue(ctx, o); err != nil {
		o.finish(err)
	}
	return o
}

// pruneEvery is how many dedupe records are written between two prunes at
// most; maxPruneExamined bounds the records one prune examines (its
// commit stays short).
const (
	pruneEvery       = 1024
	maxPruneExamined = 16384
)

// PruneDedupe examines up to limit dedupe records, from where the last
// prune stopped (wrapping around at the end of the records), and deletes
// those older than tripsense.DedupeTTL at now, in one commit; it returns
// how many it deleted. Appends call it as they write records (see
// maybePrune); it is exported for operations and tests.
func (s *Store) PruneDedupe(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int
	err := s.write(ctx, "prune dedupe", func(tx *bbolt.Tx) error {
		var err error
		n, err = s.pruneDedupe(tx, now.UnixMilli(), limit, recorder{})
		return err
	})
	return n, err
}

// pruneDedupe is a step of a rolling scan over the dedupe records in key
// order: records are not indexed by time (an index would cost a second
// write per send), so the scan visits every record once per pass and
// deletes the expired ones; a pass examines at least twice what was
// written meanwhile, so a pass takes at most one TTL and a record lives
// at most about twice tripsense.DedupeTTL. It runs in the committer only (s.pruneFrom is
// the committer's), so a rerun of its batch at most skips a stretch until
// the next pass. It also drains dedupeByTime, the time index of older
// versions, which nothing reads now.
func (s *Store) pruneDedupe(tx *bbolt.Tx, nowMs int64, limit int, r recorder) (int, error) {
	cutoff := nowMs - tripsense.DedupeTTL.Milliseconds() // records at or before cutoff are expired
	dedupe := tx.Bucket(bucketDedupe)
	var expired [][]byte
	examined := 0
	c := dedupe.Cursor()
	k, v := c.Seek(s.pruneFrom)
	wrapped := s.pruneFrom == nil
	var stop []byte // the key the pass started at, once wrapped
	for examined < limit {
		if k == nil {
			if wrapped {
				break // the whole bucket examined
			}
			wrapped, stop = true, s.pruneFrom
			if k, v = c.First(); k == nil {
				break
			}
		}
		if stop != nil && bytes.Compare(k, stop) >= 0 {
			break // back where this step began
		}
		atMs, ok := getU64(v, 8)
		if !ok {
			return 0, fmt.Errorf("dedupe record: %w", errCorrupt)
		}
		if atMs <= cutoff {
			expired = append(expired, bytes.Clone(k))
		}
		examined++
		k, v = c.Next()
	}
	if k == nil {
		s.pruneFrom = nil
	} else {
		s.pruneFrom = bytes.Clone(k)
	}
	for _, k := range expired {
		if err := r.delete(dedupe, logDedupe, k); err != nil {
			return 0, err
		}
	}
	if err := drainByTime(tx, limit, r); err != nil {
		return 0, err
	}
	return len(expired), nil
}

// drainByTime deletes up to limit keys of dedupeByTime (written by older
// versions; the records it indexed are pruned by the scan), recording
// them through r.
func drainByTime(tx *bbolt.Tx, limit int, r recorder) error {
	c := tx.Bucket(bucketDedupeByTime).Cursor()
	for k, _ := c.First(); k != nil && limit > 0; k, _ = c.First() {
		r.deleted(logDedupeByTime, k)
		if err := c.Delete(); err != nil {
			return err
		}
		limit--
	}
	return nil
}

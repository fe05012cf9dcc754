package bolt

import (
	"context"
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
	now := s.opts.Now()
	ct := m.CreateTime
	if ct.IsZero() {
		ct = now
	}
	createMs := ct.UnixMilli()
	a := &appendOp{
		room:  m.Room,
		value: encodeMessage(&m, createMs),
		nowMs: now.UnixMilli(),
	}
	if m.ClientMsgID != "" {
		a.dk = dedupeKey(m.Room, m.UserID, m.ClientMsgID)
	}
	if m.Kind != "" || m.ReplyTo > 0 {
		a.ev, a.createMs = &m, createMs
	}
	if err := s.write(ctx, "append", a.run); err != nil {
		return tripsense.Message{}, false, err
	}
	if a.refused != nil {
		return tripsense.Message{}, false, a.refused
	}
	if a.dup {
		return a.original, true, nil
	}
	s.maybePrune(ctx, now)
	return tripsense.Message{Room: m.Room, Index: a.index, UserID: m.UserID, Body: m.Body, Type: m.Type,
		CreateTime: msTime(createMs), ClientMsgID: m.ClientMsgID, Kind: m.Kind, Target: m.Target,
		ReplyTo: m.ReplyTo, Reaction: m.Reaction, Remove: m.Remove}, false, nil
}

// appendOp allocates the next index of room and stores the message and its
// dedupe record in the committer's transaction.
type appendOp struct {
	room  string
	value []byte // encoded message
	dk    []byte // dedupe key; nil without clientMsgId
	nowMs int64
	// ev is the entry when a rule decides it (an event, or a reply):
	// ApplyEvent or CheckReply run in the transaction (lifecycle.go).
	ev       *tripsense.NewMessage
	createMs int64

	// results, overwritten by every run
	index    int64
	dup      bool
	original tripsense.Message
	refused  error // the rule refused the entry; nothing was written
}

func (a *appendOp) run(tx *bbolt.Tx) (err error) {
	a.index, a.dup, a.original, a.refused = 0, false, tripsense.Message{}, nil
	dedupe := tx.Bucket(bucketDedupe)
	byTime := tx.Bucket(bucketDedupeByTime)
	if a.dk != nil {
		if rec := dedupe.Get(a.dk); rec != nil {
			index, ok1 := getU64(rec, 0)
			atMs, ok2 := getU64(rec, 8)
			if !ok1 || !ok2 {
				return fmt.Errorf("dedupe record: %w", errCorrupt)
			}
			if time.Duration(a.nowMs-atMs)*time.Millisecond < tripsense.DedupeTTL {
				v := tx.Bucket(bucketMessages).Get(messageKey(a.room, index))
				if v == nil {
					if oldest, err := readOldest(tx, a.room); err == nil && index < oldest {
						// Retention removed the original: say which index it had.
						a.dup, a.original = true, tripsense.Message{Room: a.room, Index: index}
						return nil
					}
					return fmt.Errorf("message %d of the dedupe record is missing: %w", index, errCorrupt)
				}
				orig, err := decodeMessage(a.room, index, v)
				if err != nil {
					return err
				}
				a.dup, a.original = true, orig
				return nil
			}
			// Expired and not yet pruned: this send is a new message.
			defer func() {
				if a.refused == nil && err == nil {
					err = byTime.Delete(byTimeKey(atMs, a.dk))
				}
			}()
		}
	}
	heads := tx.Bucket(bucketHeads)
	roomKey := []byte(a.room)
	var head int64
	if v := heads.Get(roomKey); v != nil {
		h, ok := getU64(v, 0)
		if !ok {
			return fmt.Errorf("head of %q: %w", a.room, errCorrupt)
		}
		head = h
	}
	index := head + 1
	messages := tx.Bucket(bucketMessages)
	if a.ev != nil {
		// The rule decides before anything is written: a refusal leaves
		// the transaction untouched, so the batch needs no rerun.
		if a.refused, err = a.decide(tx, index); a.refused != nil || err != nil {
			return err
		}
	}
	messages.FillPercent = 0.9 // keys of a room grow at its end
	if err := messages.Put(messageKey(a.room, index), a.value); err != nil {
		return err
	}
	if err := heads.Put(roomKey, u64(index)); err != nil {
		return err
	}
	if a.dk != nil {
		rec := make([]byte, 16)
		copy(rec, u64(index))
		copy(rec[8:], u64(a.nowMs))
		if err := dedupe.Put(a.dk, rec); err != nil {
			return err
		}
		if err := byTime.Put(byTimeKey(a.nowMs, a.dk), nil); err != nil {
			return err
		}
	}
	a.index = index
	return nil
}

// maybePrune queues a prune of expired dedupe records when the last one is
// older than DedupePruneInterval. It does not wait for it.
func (s *Store) maybePrune(ctx context.Context, now time.Time) {
	last := s.lastPruneMs.Load()
	if now.Sub(msTime(last)) < s.opts.DedupePruneInterval || !s.lastPruneMs.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	nowMs := now.UnixMilli()
	o := &op{done: make(chan error, 1), fn: func(tx *bbolt.Tx) error {
		_, err := pruneDedupe(tx, nowMs, maxPrunePerCommit)
		return err
	}}
	_ = s.enqueue(context.WithoutCancel(ctx), o) // a failed prune is retried at the next interval
}

// PruneDedupe deletes up to limit dedupe records older than
// tripsense.DedupeTTL at now, in one commit, and returns how many it
// deleted. Appends call it every Options.DedupePruneInterval; it is
// exported for operations and tests.
func (s *Store) PruneDedupe(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int
	err := s.write(ctx, "prune dedupe", func(tx *bbolt.Tx) error {
		var err error
		n, err = pruneDedupe(tx, now.UnixMilli(), limit)
		return err
	})
	return n, err
}

func pruneDedupe(tx *bbolt.Tx, nowMs int64, limit int) (int, error) {
	cutoff := nowMs - tripsense.DedupeTTL.Milliseconds() // records at or before cutoff are expired
	dedupe := tx.Bucket(bucketDedupe)
	c := tx.Bucket(bucketDedupeByTime).Cursor()
	n := 0
	for k, _ := c.First(); k != nil && n < limit; k, _ = c.First() {
		atMs, ok := getU64(k, 0)
		if !ok {
			return n, fmt.Errorf("dedupeByTime key: %w", errCorrupt)
		}
		if atMs > cutoff {
			break
		}
		dk := k[8:]
		if rec := dedupe.Get(dk); rec != nil {
			if recMs, ok := getU64(rec, 8); ok && recMs == atMs {
				if err := dedupe.Delete(dk); err != nil {
					return n, err
				}
			}
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

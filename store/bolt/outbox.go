package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
)

var _ tripsense.OutboxStore = (*Store)(nil)

// The outbox bucket: big-endian seq (the bucket's sequence) -> room
// (uvarint-prefixed), then varints index, createdMs, attempts, nextMs, a
// failed byte and the last error (uvarint-prefixed). An append with
// Options.Outbox writes its entry in the append's transaction. Failed
// entries move to the outboxFailed bucket (same keys and values), so that
// however many wait for a replay, the scan for due entries never reads them.

// newOutboxEntry is the encoded outbox entry of a new message.
func newOutboxEntry(room string, index, nowMs int64) []byte {
	return encodeOutbox(tripsense.OutboxEntry{Room: room, Index: index, CreatedAt: msTime(nowMs), NextAt: msTime(nowMs)})
}

func encodeOutbox(e tripsense.OutboxEntry) []byte {
	b := appendString(nil, e.Room)
	b = binary.AppendVarint(b, e.Index)
	b = binary.AppendVarint(b, e.CreatedAt.UnixMilli())
	b = binary.AppendVarint(b, int64(e.Attempts))
	b = binary.AppendVarint(b, e.NextAt.UnixMilli())
	f := byte(0)
	if e.Failed {
		f = 1
	}
	b = append(b, f)
	return appendString(b, e.LastError)
}

func decodeOutbox(k, v []byte) (tripsense.OutboxEntry, error) {
	if len(k) != 8 {
		return tripsense.OutboxEntry{}, fmt.Errorf("outbox key: %w", errCorrupt)
	}
	d := decoder{b: v}
	e := tripsense.OutboxEntry{Seq: binary.BigEndian.Uint64(k), Room: d.string(), Index: d.varint()}
	e.CreatedAt = msTime(d.varint())
	e.Attempts = int(d.varint())
	e.NextAt = msTime(d.varint())
	e.Failed = d.byte() == 1
	e.LastError = d.string()
	if d.bad || len(d.b) != 0 {
		return tripsense.OutboxEntry{}, fmt.Errorf("outbox entry %d: %w", e.Seq, errCorrupt)
	}
	return e, nil
}

// outboxScanLimit bounds the entries one OutboxDue call looks at.
const outboxScanLimit = 100000

func scanBucket(tx *bbolt.Tx, bucket []byte, limit int, keep func(tripsense.OutboxEntry) bool, out []tripsense.OutboxEntry) ([]tripsense.OutboxEntry, error) {
	c := tx.Bucket(bucket).Cursor()
	n := 0
	for k, v := c.First(); k != nil && len(out) < limit && n < outboxScanLimit; k, v = c.Next() {
		n++
		e, err := decodeOutbox(k, v)
		if err != nil {
			return out, err
		}
		if keep(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// OutboxDue returns up to limit pending entries due at now, oldest first
// (among the first 100,000 pending ones: backed-off entries are read and
// skipped).
func (s *Store) OutboxDue(ctx context.Context, now time.Time, limit int) ([]tripsense.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []tripsense.OutboxEntry
	err := s.viewAcked(ctx, "outbox due", func(tx *bbolt.Tx) error {
		var err error
		out, err = scanBucket(tx, bucketOutbox, limit, func(e tripsense.OutboxEntry) bool { return !e.NextAt.After(now) }, nil)
		return err
	})
	return out, err
}

// OutboxList returns up to limit entries, pending ones (oldest first) then
// failed ones (oldest first).
func (s *Store) OutboxList(ctx context.Context, limit int) ([]tripsense.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []tripsense.OutboxEntry
	all := func(tripsense.OutboxEntry) bool { return true }
	err := s.viewAcked(ctx, "outbox list", func(tx *bbolt.Tx) error {
		var err error
		if out, err = scanBucket(tx, bucketOutbox, limit, all, out); err != nil {
			return err
		}
		out, err = scanBucket(tx, bucketOutboxFailed, limit, all, out)
		return err
	})
	return out, err
}

// OutboxDone removes the entry seq.
func (s *Store) OutboxDone(ctx context.Context, seq uint64) error {
	return s.writeKV(ctx, "outbox done", func(kv kv) error {
		return kv.delete(logOutbox, binary.BigEndian.AppendUint64(nil, seq))
	})
}

// OutboxUpdate stores the delivery state of the pending entry e.Seq; a
// failed one moves to the failed bucket.
func (s *Store) OutboxUpdate(ctx context.Context, e tripsense.OutboxEntry) error {
	return s.writeKV(ctx, "outbox update", func(kv kv) error {
		k := binary.BigEndian.AppendUint64(nil, e.Seq)
		v := kv.get(logOutbox, k)
		if v == nil {
			return nil
		}
		cur, err := decodeOutbox(k, v)
		if err != nil {
			return err
		}
		cur.Attempts, cur.NextAt, cur.LastError, cur.Failed = e.Attempts, e.NextAt, e.LastError, e.Failed
		if !cur.Failed {
			return kv.put(logOutbox, k, encodeOutbox(cur))
		}
		if err := kv.delete(logOutbox, k); err != nil {
			return err
		}
		return kv.put(logOutboxFailed, k, encodeOutbox(cur))
	})
}

// OutboxReplay moves the failed entry seq (every failed one for 0) back to
// the pending ones, due at now with no attempts.
func (s *Store) OutboxReplay(ctx context.Context, seq uint64, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "outbox replay", func(tx *bbolt.Tx) error {
		n = 0
		failed, pending := tx.Bucket(bucketOutboxFailed), tx.Bucket(bucketOutbox)
		var keys [][]byte
		if seq != 0 {
			if k := binary.BigEndian.AppendUint64(nil, seq); failed.Get(k) != nil {
				keys = append(keys, k)
			}
		} else {
			c := failed.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
		}
		for _, k := range keys {
			e, err := decodeOutbox(k, failed.Get(k))
			if err != nil {
				return err
			}
			e.Failed, e.Attempts, e.NextAt = false, 0, now
			if err := pending.Put(k, encodeOutbox(e)); err != nil {
				return err
			}
			if err := failed.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return n, err
}

// OutboxBacklog counts the pending and the failed entries and returns the
// creation time of the oldest pending one (zero when none is pending), for
// the webhook metrics. It counts the keys of the two buckets (bbolt's
// bucket statistics walk their pages, without decoding an entry) and
// decodes only the first pending entry: entries are keyed by their
// sequence, so the first one is the oldest.
func (s *Store) OutboxBacklog(ctx context.Context) (pending, failed int, oldest time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, time.Time{}, err
	}
	err = s.viewAcked(ctx, "outbox backlog", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		pending = b.Stats().KeyN
		failed = tx.Bucket(bucketOutboxFailed).Stats().KeyN
		if k, v := b.Cursor().First(); k != nil {
			e, err := decodeOutbox(k, v)
			if err != nil {
				return err
			}
			oldest = e.CreatedAt
		}
		return nil
	})
	return pending, failed, oldest, err
}

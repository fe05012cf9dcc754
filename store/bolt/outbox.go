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
// Options.Outbox writes its entry in the append's transaction.

func putOutbox(tx *bbolt.Tx, room string, index, nowMs int64) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, seq), encodeOutbox(tripsense.OutboxEntry{
		Room: room, Index: index, CreatedAt: msTime(nowMs), NextAt: msTime(nowMs)}))
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

func (s *Store) scanOutbox(ctx context.Context, limit int, keep func(tripsense.OutboxEntry) bool) ([]tripsense.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []tripsense.OutboxEntry
	err := s.view("outbox", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		n := 0
		for k, v := c.First(); k != nil && len(out) < limit && n < outboxScanLimit; k, v = c.Next() {
			n++
			e, err := decodeOutbox(k, v)
			if err != nil {
				return err
			}
			if keep(e) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// OutboxDue returns up to limit pending entries due at now, oldest first.
func (s *Store) OutboxDue(ctx context.Context, now time.Time, limit int) ([]tripsense.OutboxEntry, error) {
	return s.scanOutbox(ctx, limit, func(e tripsense.OutboxEntry) bool { return !e.Failed && !e.NextAt.After(now) })
}

// OutboxList returns up to limit entries, oldest first.
func (s *Store) OutboxList(ctx context.Context, limit int) ([]tripsense.OutboxEntry, error) {
	return s.scanOutbox(ctx, limit, func(tripsense.OutboxEntry) bool { return true })
}

// OutboxDone removes the entry seq.
func (s *Store) OutboxDone(ctx context.Context, seq uint64) error {
	return s.write(ctx, "outbox done", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOutbox).Delete(binary.BigEndian.AppendUint64(nil, seq))
	})
}

// OutboxUpdate stores the delivery state of e.Seq.
func (s *Store) OutboxUpdate(ctx context.Context, e tripsense.OutboxEntry) error {
	return s.write(ctx, "outbox update", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		k := binary.BigEndian.AppendUint64(nil, e.Seq)
		v := b.Get(k)
		if v == nil {
			return nil
		}
		cur, err := decodeOutbox(k, v)
		if err != nil {
			return err
		}
		cur.Attempts, cur.NextAt, cur.LastError, cur.Failed = e.Attempts, e.NextAt, e.LastError, e.Failed
		return b.Put(k, encodeOutbox(cur))
	})
}

// OutboxReplay makes the failed entry seq (every failed one for 0) pending.
func (s *Store) OutboxReplay(ctx context.Context, seq uint64, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "outbox replay", func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketOutbox)
		var keys, vals [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decodeOutbox(k, v)
			if err != nil {
				return err
			}
			if !e.Failed || (seq != 0 && e.Seq != seq) {
				continue
			}
			e.Failed, e.Attempts, e.NextAt = false, 0, now
			keys, vals = append(keys, append([]byte(nil), k...)), append(vals, encodeOutbox(e))
		}
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return n, err
}

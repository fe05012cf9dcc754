package bolt

import (
	"bytes"
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
)

// Cursor returns the cursor of (user, device, room); LastSeen 0 and a zero
// UpdatedAt if none was written.
func (s *Store) Cursor(ctx context.Context, user, device, room string) (tripsense.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.Cursor{}, err
	}
	c := tripsense.Cursor{UserID: user, DeviceID: device, Room: room}
	err := s.view("cursor", func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketReadCursors).Get(pairKey(tripsense.DeviceKey(user, device), room)); v != nil {
			return decodeCursor(&c, v)
		}
		return nil
	})
	return c, err
}

// Cursors returns every stored cursor of (user, device), sorted by room:
// one seek to the key prefix of tripsense.DeviceKey(user, device).
func (s *Store) Cursors(ctx context.Context, user, device string) ([]tripsense.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []tripsense.Cursor
	err := s.view("cursors", func(tx *bbolt.Tx) error {
		p := prefix(tripsense.DeviceKey(user, device), 0)
		c := tx.Bucket(bucketReadCursors).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			cur := tripsense.Cursor{UserID: user, DeviceID: device, Room: string(k[len(p):])}
			if err := decodeCursor(&cur, v); err != nil {
				return err
			}
			out = append(out, cur)
		}
		return nil
	})
	return out, err
}

// AdvanceCursor sets the cursor of (user, device, room) to
// max(current, min(lastSeen, head(room))) in one transaction and returns
// it. The first call creates the cursor; UpdatedAt changes only when
// LastSeen does.
func (s *Store) AdvanceCursor(ctx context.Context, user, device, room string, lastSeen int64) (tripsense.Cursor, error) {
	nowMs := s.opts.Now().UnixMilli()
	var out tripsense.Cursor
	err := s.write(ctx, "advance cursor", func(tx *bbolt.Tx) error {
		out = tripsense.Cursor{UserID: user, DeviceID: device, Room: room}
		head, err := readHead(tx, room)
		if err != nil {
			return err
		}
		target := max(min(lastSeen, head), 0)
		b := tx.Bucket(bucketReadCursors)
		key := pairKey(tripsense.DeviceKey(user, device), room)
		if v := b.Get(key); v != nil {
			if err := decodeCursor(&out, v); err != nil {
				return err
			}
			if target <= out.LastSeen {
				return nil
			}
		}
		out.LastSeen, out.UpdatedAt = target, msTime(nowMs)
		rec := make([]byte, 0, 16)
		rec = append(append(rec, u64(target)...), u64(nowMs)...)
		return b.Put(key, rec)
	})
	return out, err
}

func decodeCursor(c *tripsense.Cursor, v []byte) error {
	last, ok1 := getU64(v, 0)
	ms, ok2 := getU64(v, 8)
	if !ok1 || !ok2 {
		return fmt.Errorf("cursor of %q in %q: %w", c.UserID, c.Room, errCorrupt)
	}
	c.LastSeen, c.UpdatedAt = last, msTime(ms)
	return nil
}

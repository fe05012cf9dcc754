package bolt

import (
	"bytes"
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
)

// ReadCursor returns the read cursor of (user, room); LastRead 0 and a zero
// UpdatedAt if none was written.
func (s *Store) ReadCursor(ctx context.Context, user, room string) (tripsense.ReadCursor, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.ReadCursor{}, err
	}
	c := tripsense.ReadCursor{UserID: user, Room: room}
	err := s.view("read cursor", func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketLastRead).Get(pairKey(user, room)); v != nil {
			return decodeReadCursor(&c, v)
		}
		return nil
	})
	return c, err
}

// ReadCursors returns every stored read cursor of user, sorted by room.
func (s *Store) ReadCursors(ctx context.Context, user string) ([]tripsense.ReadCursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []tripsense.ReadCursor
	err := s.view("read cursors", func(tx *bbolt.Tx) error {
		p := prefix(user, 0)
		c := tx.Bucket(bucketLastRead).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			rc := tripsense.ReadCursor{UserID: user, Room: string(k[len(p):])}
			if err := decodeReadCursor(&rc, v); err != nil {
				return err
			}
			out = append(out, rc)
		}
		return nil
	})
	return out, err
}

// Receipts returns every stored read cursor of room, sorted by user: one
// seek in lastReadByRoom.
func (s *Store) Receipts(ctx context.Context, room string) ([]tripsense.ReadCursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []tripsense.ReadCursor
	err := s.view("receipts", func(tx *bbolt.Tx) error {
		p := prefix(room, 0)
		c := tx.Bucket(bucketLastReadRoom).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			rc := tripsense.ReadCursor{UserID: string(k[len(p):]), Room: room}
			if err := decodeReadCursor(&rc, v); err != nil {
				return err
			}
			out = append(out, rc)
		}
		return nil
	})
	return out, err
}

// AdvanceReadCursor sets the read cursor of (user, room) to
// max(current, min(lastRead, head(room))) in one transaction, writing both
// lastRead buckets, and returns it and whether it moved.
func (s *Store) AdvanceReadCursor(ctx context.Context, user, room string, lastRead int64) (tripsense.ReadCursor, bool, error) {
	nowMs := s.opts.Now().UnixMilli()
	var out tripsense.ReadCursor
	var moved bool
	err := s.write(ctx, "advance read cursor", func(tx *bbolt.Tx) error {
		out, moved = tripsense.ReadCursor{UserID: user, Room: room}, false
		head, err := readHead(tx, room)
		if err != nil {
			return err
		}
		target := max(min(lastRead, head), 0)
		key := pairKey(user, room)
		if v := tx.Bucket(bucketLastRead).Get(key); v != nil {
			if err := decodeReadCursor(&out, v); err != nil {
				return err
			}
			if target <= out.LastRead {
				return nil
			}
		}
		moved = target > out.LastRead
		out.LastRead, out.UpdatedAt = target, msTime(nowMs)
		rec := make([]byte, 0, 16)
		rec = append(append(rec, u64(target)...), u64(nowMs)...)
		if err := tx.Bucket(bucketLastRead).Put(key, rec); err != nil {
			return err
		}
		return tx.Bucket(bucketLastReadRoom).Put(pairKey(room, user), rec)
	})
	if err != nil {
		return tripsense.ReadCursor{}, false, err
	}
	return out, moved, nil
}

func decodeReadCursor(c *tripsense.ReadCursor, v []byte) error {
	last, ok1 := getU64(v, 0)
	ms, ok2 := getU64(v, 8)
	if !ok1 || !ok2 {
		return fmt.Errorf("read cursor of %q in %q: %w", c.UserID, c.Room, errCorrupt)
	}
	c.LastRead, c.UpdatedAt = last, msTime(ms)
	return nil
}

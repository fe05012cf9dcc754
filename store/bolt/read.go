package bolt

import (
	"bytes"
	"context"
	"fmt"
	"math"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
)

// MessagesAfter returns up to limit messages of room with index > after, in
// ascending order. It seeks to (room, after+1), so its cost is the page's,
// not the room's.
func (s *Store) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || after == math.MaxInt64 {
		return nil, nil
	}
	after = max(after, 0)
	out := make([]tripsense.Message, 0, min(limit, 256))
	err := s.viewAcked(ctx, "messages after", func(tx *bbolt.Tx) error {
		p := prefix(room, 0)
		c := tx.Bucket(bucketMessages).Cursor()
		for k, v := c.Seek(messageKey(room, after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			index, ok := messageIndex(k, p)
			if !ok {
				break
			}
			m, err := decodeMessage(room, index, v)
			if err != nil {
				return fmt.Errorf("message %d of %q: %w", index, room, err)
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// MessagesBefore returns up to limit messages of room with index < before
// (the newest ones below it), in ascending order.
func (s *Store) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || before <= 1 {
		return nil, nil
	}
	out := make([]tripsense.Message, 0, min(limit, 256))
	err := s.viewAcked(ctx, "messages before", func(tx *bbolt.Tx) error {
		p := prefix(room, 0)
		c := tx.Bucket(bucketMessages).Cursor()
		k, v := c.Seek(messageKey(room, before))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			index, ok := messageIndex(k, p)
			if !ok {
				break
			}
			m, err := decodeMessage(room, index, v)
			if err != nil {
				return fmt.Errorf("message %d of %q: %w", index, room, err)
			}
			out = append(out, m)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// messageIndex returns the index of message key k if k belongs to the room
// whose key prefix is p.
func messageIndex(k, p []byte) (int64, bool) {
	if len(k) != len(p)+8 || !bytes.HasPrefix(k, p) {
		return 0, false
	}
	return getU64(k, len(p))
}

// Head returns the highest index of room, 0 when it has no messages.
func (s *Store) Head(ctx context.Context, room string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var head int64
	if w := s.wal; w != nil {
		// The send path asks for a room's head whenever the room has no
		// send in flight: it must not wait for a checkpoint. A room with
		// appends not checkpointed has its head in the log's heads, any
		// other its head in bbolt.
		if err := w.broken(); err != nil {
			return 0, fmt.Errorf("bolt: head: %w", err)
		}
		if h, ok := w.head(room); ok {
			return h, nil
		}
	}
	err := s.view("head", func(tx *bbolt.Tx) error {
		var err error
		head, err = readHead(tx, room)
		return err
	})
	return head, err
}

func readHead(tx *bbolt.Tx, room string) (int64, error) {
	v := tx.Bucket(bucketHeads).Get([]byte(room))
	if v == nil {
		return 0, nil
	}
	h, ok := getU64(v, 0)
	if !ok {
		return 0, fmt.Errorf("head of %q: %w", room, errCorrupt)
	}
	return h, nil
}

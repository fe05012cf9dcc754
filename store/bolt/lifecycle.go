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

// decide runs the rule of the entry a.m (an event, or a reply) against the
// stored target in kv (the append's transaction or the log's layers), before anything is
// written. When the rule allows it, the target's new state is written (and
// a delete removes the bodies of the target's earlier edits); when it
// refuses, refused is its error and nothing was written. err is a storage
// failure.
func (a *appendOp) decide(kv kv, index int64) (refused, err error) {
	load := func(i int64) (*tripsense.Message, error) {
		v := kv.get(logMessages, messageKey(a.room, i))
		if v == nil {
			return nil, nil
		}
		m, err := decodeMessage(a.room, i, v)
		if err != nil {
			return nil, fmt.Errorf("entry %d of %q: %w", i, a.room, err)
		}
		return &m, nil
	}
	if a.m.ReplyTo > 0 {
		t, err := load(a.m.ReplyTo)
		if err != nil {
			return nil, err
		}
		if refused := tripsense.CheckReply(t); refused != nil {
			return refused, nil
		}
	}
	if a.m.Kind == "" {
		return nil, nil
	}
	t, err := load(a.m.Target)
	if err != nil {
		return nil, err
	}
	if refused := tripsense.ApplyEvent(t, &a.m, index, msTime(a.createMs)); refused != nil {
		return refused, nil
	}
	if t.Deleted {
		for _, e := range t.Edits {
			ed, err := load(e)
			if err != nil {
				return nil, err
			}
			if ed != nil && tripsense.Redact(ed) {
				if err := kv.put(logMessages, messageKey(a.room, e), encodeEntry(ed)); err != nil {
					return nil, err
				}
			}
		}
	}
	return nil, kv.put(logMessages, messageKey(a.room, t.Index), encodeEntry(t))
}

// readOldest returns the lowest index of room retention kept (1 when it
// removed nothing).
func readOldest(tx *bbolt.Tx, room string) (int64, error) {
	v := tx.Bucket(bucketOldest).Get([]byte(room))
	if v == nil {
		return 1, nil
	}
	o, ok := getU64(v, 0)
	if !ok {
		return 0, fmt.Errorf("oldest of %q: %w", room, errCorrupt)
	}
	return o, nil
}

// Oldest returns the lowest index of room retention kept: 1 when nothing
// was removed, head+1 when everything was.
func (s *Store) Oldest(ctx context.Context, room string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var o int64
	err := s.view("oldest", func(tx *bbolt.Tx) error {
		var err error
		o, err = readOldest(tx, room)
		return err
	})
	return o, err
}

// Prune removes, room by room and oldest first, the entries created before
// cutoff, at most limit of them in one commit, and records each room's new
// oldest index. The room's head stays, so no index is given out twice.
// The pages that held the removed entries return to bbolt's freelist; their
// bytes stay in the file until a later commit reuses those pages or the
// file is compacted (Compact), see docs/operations.md.
func (s *Store) Prune(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	cutoffMs := cutoff.UnixMilli()
	var n int
	err := s.write(ctx, "prune", func(tx *bbolt.Tx) error {
		n = 0
		messages := tx.Bucket(bucketMessages)
		var rooms []string
		if err := tx.Bucket(bucketHeads).ForEach(func(k, _ []byte) error {
			rooms = append(rooms, string(k))
			return nil
		}); err != nil {
			return err
		}
		for _, room := range rooms {
			if n >= limit {
				break
			}
			oldest, err := readOldest(tx, room)
			if err != nil {
				return err
			}
			head, err := readHead(tx, room)
			if err != nil {
				return err
			}
			next := oldest
			for ; next <= head && n < limit; next++ {
				k := messageKey(room, next)
				v := messages.Get(k)
				if v != nil {
					ms, ok := recordCreateMs(v)
					if !ok {
						return fmt.Errorf("entry %d of %q: %w", next, room, errCorrupt)
					}
					if ms >= cutoffMs {
						break
					}
					if err := messages.Delete(k); err != nil {
						return err
					}
					n++
				}
			}
			if next != oldest {
				if err := tx.Bucket(bucketOldest).Put([]byte(room), u64(next)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}

// recordCreateMs reads the createTime of an encoded entry without decoding
// the rest.
func recordCreateMs(v []byte) (int64, bool) {
	if len(v) == 0 || (v[0] != codecVersion && v[0] != codecV1) {
		return 0, false
	}
	d := decoder{b: v[1:]}
	d.string()
	d.string()
	ms := d.varint()
	return ms, !d.bad
}

// eraseChunk is how many entries one commit of EraseUser scans, so that
// an erasure never holds the committer for long.
const eraseChunk = 4096

// EraseUser removes user's data: every message and edit body user wrote
// (the entries are rewritten without their bodies, marked deleted), user's
// memberships, delivered cursors (every key that starts with the user) and
// read cursors. It scans the whole log, eraseChunk entries per commit, so
// it costs one pass over the file; erasures are rare. Like every rewrite,
// the old pages stay in the file until reused or compacted (Compact).
func (s *Store) EraseUser(ctx context.Context, user string) (tripsense.Erasure, error) {
	var e tripsense.Erasure
	var from []byte // the next message key to scan; nil: the start
	for done := false; !done; {
		var n int
		err := s.write(ctx, "erase user", func(tx *bbolt.Tx) error {
			n, done = 0, false
			messages := tx.Bucket(bucketMessages)
			c := messages.Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			type rewrite struct {
				key []byte
				val []byte
			}
			var redo []rewrite
			scanned := 0
			for ; k != nil && scanned < eraseChunk; k, v = c.Next() {
				scanned++
				room, index, ok := splitMessageKey(k)
				if !ok {
					return fmt.Errorf("message key %x: %w", k, errCorrupt)
				}
				m, err := decodeMessage(room, index, v)
				if err != nil {
					return fmt.Errorf("entry %d of %q: %w", index, room, err)
				}
				if m.UserID != user || !(m.IsMessage() || m.Kind == tripsense.KindEdit) || !tripsense.Redact(&m) {
					continue
				}
				redo = append(redo, rewrite{bytes.Clone(k), encodeEntry(&m)})
			}
			if k == nil {
				done = true
			} else {
				from = bytes.Clone(k)
			}
			for _, r := range redo {
				if err := messages.Put(r.key, r.val); err != nil {
					return err
				}
			}
			n = len(redo)
			return nil
		})
		if err != nil {
			return tripsense.Erasure{}, err
		}
		e.Messages += n
	}
	err := s.writeThen(ctx, "erase user", func(tx *bbolt.Tx) error {
		e.Memberships, e.Cursors, e.ReadCursors = 0, 0, 0
		p := prefix(user, 0)
		rooms, err := deletePrefix(tx.Bucket(bucketUserRoom), p)
		if err != nil {
			return err
		}
		for _, room := range rooms {
			if err := tx.Bucket(bucketRoomUser).Delete(pairKey(string(room), user)); err != nil {
				return err
			}
		}
		e.Memberships = len(rooms)
		// Every device's delivered cursors: the default device's key is
		// the user, a named one's "user#device", which sorts elsewhere (keys
		// are length-prefixed), so this scans the bucket. Erasure is rare.
		if e.Cursors, err = deleteDeviceKeys(tx.Bucket(bucketReadCursors), user); err != nil {
			return err
		}
		reads, err := deletePrefix(tx.Bucket(bucketLastRead), p)
		if err != nil {
			return err
		}
		for _, room := range reads {
			if err := tx.Bucket(bucketLastReadRoom).Delete(pairKey(string(room), user)); err != nil {
				return err
			}
		}
		e.ReadCursors = len(reads)
		return nil
	}, func() { s.members.forget() })
	if err != nil {
		return tripsense.Erasure{}, err
	}
	return e, nil
}

// deleteDeviceKeys deletes every pairKey(DeviceKey(user, d), x) of b, for
// every device d, and returns how many it deleted.
func deleteDeviceKeys(b *bbolt.Bucket, user string) (int, error) {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) < n {
			continue
		}
		if tripsense.OfUser(string(k[w:w+int(n)]), user) {
			keys = append(keys, bytes.Clone(k))
		}
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// deletePrefix deletes every key of b that starts with p and returns the
// rest of each key (after p).
func deletePrefix(b *bbolt.Bucket, p []byte) ([][]byte, error) {
	var keys, rests [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
		rests = append(rests, bytes.Clone(k[len(p):]))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return rests, nil
}

// splitMessageKey returns the room and index of a message key.
func splitMessageKey(k []byte) (string, int64, bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) != n+8 {
		return "", 0, false
	}
	room := string(k[w : w+int(n)])
	index, ok := getU64(k, w+int(n))
	return room, index, ok
}

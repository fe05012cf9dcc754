package bolt

import (
	"bytes"
	"context"

	bbolt "go.etcd.io/bbolt"
)

// IsMember reports whether user is a member of room.
func (s *Store) IsMember(ctx context.Context, user, room string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	key := pairKey(user, room)
	ok, gen := s.members.has(key)
	if ok {
		return true, nil
	}
	err := s.view("is member", func(tx *bbolt.Tx) error {
		ok = tx.Bucket(bucketUserRoom).Get(key) != nil
		return nil
	})
	if ok && err == nil {
		s.members.add(gen, key)
	}
	return ok, err
}

// Rooms returns the rooms of user, sorted (a prefix scan of userRoom).
func (s *Store) Rooms(ctx context.Context, user string) ([]string, error) {
	return s.seconds(ctx, "rooms", bucketUserRoom, user)
}

// Members returns the members of room, sorted (a prefix scan of roomUser).
func (s *Store) Members(ctx context.Context, room string) ([]string, error) {
	return s.seconds(ctx, "members", bucketRoomUser, room)
}

// seconds returns the second components of the pair keys of bucket whose
// first component is first, in key order.
func (s *Store) seconds(ctx context.Context, opName string, bucket []byte, first string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []string
	err := s.view(opName, func(tx *bbolt.Tx) error {
		p := prefix(first, 0)
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			out = append(out, string(k[len(p):]))
		}
		return nil
	})
	return out, err
}

// AddMember adds user to room (userRoom and its reverse roomUser, in one
// commit). Adding an existing member keeps its joinedAt.
func (s *Store) AddMember(ctx context.Context, room, user string) error {
	joined := u64(s.opts.Now().UnixMilli())
	return s.write(ctx, "add member", func(tx *bbolt.Tx) error {
		ur, ru := tx.Bucket(bucketUserRoom), tx.Bucket(bucketRoomUser)
		if ur.Get(pairKey(user, room)) != nil {
			return nil
		}
		if err := ur.Put(pairKey(user, room), joined); err != nil {
			return err
		}
		return ru.Put(pairKey(room, user), joined)
	})
}

// RemoveMember removes user from room; removing a non-member is not an error.
func (s *Store) RemoveMember(ctx context.Context, room, user string) error {
	key := pairKey(user, room)
	return s.writeThen(ctx, "remove member", func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketUserRoom).Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bucketRoomUser).Delete(pairKey(room, user))
	}, func() { s.members.forget(key) })
}

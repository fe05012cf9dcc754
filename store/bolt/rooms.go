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

var _ tripsense.RoomStore = (*Store)(nil)

// Room metadata: bucketRooms, room -> uvarint-prefixed name, created by, then
// createdAt in ms (8 bytes), then the uvarint-prefixed owner when it is not
// the creator (records written before ownership could pass end after
// createdAt; their owner is the creator).

func encodeRoom(r tripsense.RoomInfo) []byte {
	b := appendString(nil, r.Name)
	b = appendString(b, r.CreatedBy)
	b = binary.BigEndian.AppendUint64(b, uint64(r.CreatedAt.UnixMilli()))
	if r.Owner != "" && r.Owner != r.CreatedBy {
		b = appendString(b, r.Owner)
	}
	return b
}

func decodeRoom(id string, v []byte) (tripsense.RoomInfo, error) {
	d := decoder{b: v}
	r := tripsense.RoomInfo{ID: id, Name: d.string(), CreatedBy: d.string()}
	if d.bad || len(d.b) < 8 {
		return tripsense.RoomInfo{}, fmt.Errorf("room %q: %w", id, errCorrupt)
	}
	r.CreatedAt = msTime(int64(binary.BigEndian.Uint64(d.b)))
	r.Owner = r.CreatedBy
	if rest := d.b[8:]; len(rest) > 0 {
		o := decoder{b: rest}
		r.Owner = o.string()
		if o.bad || len(o.b) != 0 || !tripsense.ValidID(r.Owner) {
			return tripsense.RoomInfo{}, fmt.Errorf("room %q: %w", id, errCorrupt)
		}
	}
	return r, nil
}

// CreateRoom records r; ECONFLICT when the room has metadata, members or
// messages already.
func (s *Store) CreateRoom(ctx context.Context, r tripsense.RoomInfo) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.opts.Now()
	}
	r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Millisecond)
	var exists bool
	err := s.write(ctx, "create room", func(tx *bbolt.Tx) error {
		exists = false
		key := []byte(r.ID)
		if tx.Bucket(bucketRooms).Get(key) != nil || tx.Bucket(bucketHeads).Get(key) != nil {
			exists = true
			return nil
		}
		p := prefix(r.ID, 0)
		if k, _ := tx.Bucket(bucketRoomUser).Cursor().Seek(p); k != nil && bytes.HasPrefix(k, p) {
			exists = true
			return nil
		}
		return tx.Bucket(bucketRooms).Put(key, encodeRoom(r))
	})
	if err != nil {
		return err
	}
	if exists {
		return tripsense.Errorf(tripsense.ECONFLICT, "room %s exists", r.ID)
	}
	return nil
}

// Room returns the metadata of room, ENOTFOUND without.
func (s *Store) Room(ctx context.Context, room string) (tripsense.RoomInfo, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.RoomInfo{}, err
	}
	var (
		r     tripsense.RoomInfo
		found bool
	)
	err := s.view("room", func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRooms).Get([]byte(room))
		if v == nil {
			return nil
		}
		found = true
		var err error
		r, err = decodeRoom(room, v)
		return err
	})
	if err != nil {
		return tripsense.RoomInfo{}, err
	}
	if !found {
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.ENOTFOUND, "room %s has no metadata", room)
	}
	return r, nil
}

// RenameRoom sets the name of room.
func (s *Store) RenameRoom(ctx context.Context, room, name string) error {
	return s.updateRoom(ctx, "rename room", room, func(r *tripsense.RoomInfo) error { r.Name = name; return nil })
}

// SetOwner makes to the owner of room if from still is.
func (s *Store) SetOwner(ctx context.Context, room, from, to string) error {
	return s.updateRoom(ctx, "set room owner", room, func(r *tripsense.RoomInfo) error {
		if r.Owner != from {
			return tripsense.ErrOwnerChanged(room)
		}
		r.Owner = to
		return nil
	})
}

// updateRoom rewrites the metadata of room with change (ENOTFOUND without);
// an error of change is returned and nothing is written.
func (s *Store) updateRoom(ctx context.Context, opName, room string, change func(*tripsense.RoomInfo) error) error {
	var (
		missing bool
		refused error
	)
	err := s.write(ctx, opName, func(tx *bbolt.Tx) error {
		missing, refused = false, nil
		b := tx.Bucket(bucketRooms)
		v := b.Get([]byte(room))
		if v == nil {
			missing = true
			return nil
		}
		r, err := decodeRoom(room, v)
		if err != nil {
			return err
		}
		if refused = change(&r); refused != nil {
			return nil
		}
		return b.Put([]byte(room), encodeRoom(r))
	})
	if err != nil {
		return err
	}
	if missing {
		return tripsense.Errorf(tripsense.ENOTFOUND, "room %s has no metadata", room)
	}
	return refused
}

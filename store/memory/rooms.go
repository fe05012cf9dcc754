package memory

import (
	"context"
	"time"

	"github.com/tripsense/tripsense"
)

var (
	_ tripsense.RoomStore   = (*Store)(nil)
	_ tripsense.OutboxStore = (*Store)(nil)
)

// CreateRoom records r; ECONFLICT when the room exists (metadata, members
// or entries).
func (s *Store) CreateRoom(ctx context.Context, r tripsense.RoomInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Millisecond)
	if r.Owner == "" {
		r.Owner = r.CreatedBy
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, hasInfo := s.info[r.ID]
	if hasInfo || len(s.members[r.ID]) > 0 || len(s.rooms[r.ID]) > 0 {
		return tripsense.Errorf(tripsense.ECONFLICT, "room %s exists", r.ID)
	}
	if s.info == nil {
		s.info = make(map[string]tripsense.RoomInfo)
	}
	s.info[r.ID] = r
	return nil
}

// Room returns the metadata of room, ENOTFOUND without.
func (s *Store) Room(ctx context.Context, room string) (tripsense.RoomInfo, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.RoomInfo{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.info[room]
	if !ok {
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.ENOTFOUND, "room %s has no metadata", room)
	}
	return r, nil
}

// RenameRoom sets the name of room.
func (s *Store) RenameRoom(ctx context.Context, room, name string) error {
	return s.updateRoom(ctx, room, func(r *tripsense.RoomInfo) error { r.Name = name; return nil })
}

// SetOwner makes to the owner of room if from still is.
func (s *Store) SetOwner(ctx context.Context, room, from, to string) error {
	return s.updateRoom(ctx, room, func(r *tripsense.RoomInfo) error {
		if r.Owner != from {
			return tripsense.ErrOwnerChanged(room)
		}
		r.Owner = to
		return nil
	})
}

// updateRoom applies change to the metadata of room (ENOTFOUND without);
// an error of change is returned and nothing is changed.
func (s *Store) updateRoom(ctx context.Context, room string, change func(*tripsense.RoomInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.info[room]
	if !ok {
		return tripsense.Errorf(tripsense.ENOTFOUND, "room %s has no metadata", room)
	}
	if err := change(&r); err != nil {
		return err
	}
	s.info[room] = r
	return nil
}

func (s *Store) outboxFilter(limit int, keep func(*tripsense.OutboxEntry) bool) []tripsense.OutboxEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []tripsense.OutboxEntry
	for i := range s.outbox {
		if len(out) >= limit {
			break
		}
		if keep(&s.outbox[i]) {
			out = append(out, s.outbox[i])
		}
	}
	return out
}

// OutboxDue returns up to limit pending entries due at now, oldest first.
func (s *Store) OutboxDue(ctx context.Context, now time.Time, limit int) ([]tripsense.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.outboxFilter(limit, func(e *tripsense.OutboxEntry) bool { return !e.Failed && !e.NextAt.After(now) }), nil
}

// OutboxList returns up to limit entries, oldest first.
func (s *Store) OutboxList(ctx context.Context, limit int) ([]tripsense.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.outboxFilter(limit, func(*tripsense.OutboxEntry) bool { return true }), nil
}

// OutboxDone removes the entry seq.
func (s *Store) OutboxDone(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.outbox {
		if s.outbox[i].Seq == seq {
			s.outbox = append(s.outbox[:i:i], s.outbox[i+1:]...)
			break
		}
	}
	return ctx.Err()
}

// OutboxUpdate stores the delivery state of e.Seq.
func (s *Store) OutboxUpdate(ctx context.Context, e tripsense.OutboxEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.outbox {
		if c := &s.outbox[i]; c.Seq == e.Seq {
			c.Attempts, c.NextAt, c.LastError, c.Failed = e.Attempts, e.NextAt, e.LastError, e.Failed
		}
	}
	return ctx.Err()
}

// OutboxReplay makes the failed entry seq (every failed one for 0) pending.
func (s *Store) OutboxReplay(ctx context.Context, seq uint64, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.outbox {
		if c := &s.outbox[i]; c.Failed && (seq == 0 || c.Seq == seq) {
			c.Failed, c.Attempts, c.NextAt = false, 0, now
			n++
		}
	}
	return n, ctx.Err()
}

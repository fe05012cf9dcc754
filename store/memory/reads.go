package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tripsense/tripsense"
)

// ReadCursor returns the read cursor of (user, room); LastRead 0 and a zero
// UpdatedAt if none was written.
func (s *Store) ReadCursor(ctx context.Context, user, room string) (tripsense.ReadCursor, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.ReadCursor{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.reads[user][room]; ok {
		return c, nil
	}
	return tripsense.ReadCursor{UserID: user, Room: room}, nil
}

// ReadCursors returns every stored read cursor of user, sorted by room.
func (s *Store) ReadCursors(ctx context.Context, user string) ([]tripsense.ReadCursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]tripsense.ReadCursor, 0, len(s.reads[user]))
	for _, c := range s.reads[user] {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b tripsense.ReadCursor) int { return strings.Compare(a.Room, b.Room) })
	return out, nil
}

// AdvanceReadCursor sets the read cursor of (user, room) to
// max(current, min(lastRead, head(room))) and returns it and whether it
// moved.
func (s *Store) AdvanceReadCursor(ctx context.Context, user, room string, lastRead int64) (tripsense.ReadCursor, bool, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.ReadCursor{}, false, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	target := max(min(lastRead, int64(len(s.rooms[room]))), 0)
	byRoom, ok := s.reads[user]
	if !ok {
		byRoom = make(map[string]tripsense.ReadCursor)
		s.reads[user] = byRoom
	}
	cur, exists := byRoom[room]
	if exists && target <= cur.LastRead {
		return cur, false, nil
	}
	moved := target > cur.LastRead
	cur = tripsense.ReadCursor{UserID: user, Room: room, LastRead: target, UpdatedAt: now}
	byRoom[room] = cur
	return cur, moved, nil
}

// Receipts returns every stored read cursor of room, sorted by user.
func (s *Store) Receipts(ctx context.Context, room string) ([]tripsense.ReadCursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []tripsense.ReadCursor
	for _, byRoom := range s.reads {
		if c, ok := byRoom[room]; ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b tripsense.ReadCursor) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

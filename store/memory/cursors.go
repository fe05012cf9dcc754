package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tripsense/tripsense"
)

// Cursor returns the cursor of (user, device, room); LastSeen 0 and a zero
// UpdatedAt if none was written.
func (s *Store) Cursor(ctx context.Context, user, device, room string) (tripsense.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.Cursor{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.cursors[tripsense.DeviceKey(user, device)][room]; ok {
		return c, nil
	}
	return tripsense.Cursor{UserID: user, DeviceID: device, Room: room}, nil
}

// Cursors returns every stored cursor of (user, device), sorted by room.
func (s *Store) Cursors(ctx context.Context, user, device string) ([]tripsense.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	byRoom := s.cursors[tripsense.DeviceKey(user, device)]
	out := make([]tripsense.Cursor, 0, len(byRoom))
	for _, c := range byRoom {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b tripsense.Cursor) int { return strings.Compare(a.Room, b.Room) })
	return out, nil
}

// AdvanceCursor sets the cursor of (user, device, room) to
// max(current, min(lastSeen, head(room))) and returns it. The first call
// creates the cursor; UpdatedAt changes only when LastSeen does.
func (s *Store) AdvanceCursor(ctx context.Context, user, device, room string, lastSeen int64) (tripsense.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.Cursor{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	target := max(min(lastSeen, int64(len(s.rooms[room]))), 0)
	key := tripsense.DeviceKey(user, device)
	byRoom, ok := s.cursors[key]
	if !ok {
		byRoom = make(map[string]tripsense.Cursor)
		s.cursors[key] = byRoom
	}
	cur, exists := byRoom[room]
	if exists && target <= cur.LastSeen {
		return cur, nil
	}
	cur = tripsense.Cursor{UserID: user, DeviceID: device, Room: room, LastSeen: target, UpdatedAt: now}
	byRoom[room] = cur
	return cur, nil
}

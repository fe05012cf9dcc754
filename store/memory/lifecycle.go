package memory

import (
	"context"
	"slices"
	"time"

	"github.com/tripsense/tripsense"
)

// Oldest returns the lowest index of room retention kept (1 when nothing
// was removed, head+1 when everything was).
func (s *Store) Oldest(ctx context.Context, room string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return max(s.oldest[room], 1), nil
}

// Prune removes, room by room and oldest first, the entries created before
// cutoff, at most limit, and returns how many it removed.
func (s *Store) Prune(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rooms := make([]string, 0, len(s.rooms))
	for r := range s.rooms {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	n := 0
	for _, room := range rooms {
		msgs := s.rooms[room]
		i := max(s.oldest[room], 1) - 1
		for ; i < int64(len(msgs)) && n < limit && msgs[i].CreateTime.Before(cutoff); i++ {
			msgs[i] = tripsense.Message{}
			n++
		}
		if i+1 > max(s.oldest[room], 1) {
			s.oldest[room] = i + 1
		}
	}
	return n, nil
}

// EraseUser redacts every message and edit body of user and removes the
// user's memberships, delivered and read cursors.
func (s *Store) EraseUser(ctx context.Context, user string) (tripsense.Erasure, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.Erasure{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var e tripsense.Erasure
	for _, msgs := range s.rooms {
		for i := range msgs {
			m := msgs[i]
			if m.Index == 0 || m.UserID != user || !(m.IsMessage() || m.Kind == tripsense.KindEdit) {
				continue
			}
			if tripsense.Redact(&m) {
				msgs[i] = m
				e.Messages++
			}
		}
	}
	for room := range s.userRoom[user] {
		removeFrom(s.members, room, user)
		e.Memberships++
	}
	delete(s.userRoom, user)
	for key, cs := range s.cursors { // every device's delivered cursors
		if tripsense.OfUser(key, user) {
			e.Cursors += len(cs)
			delete(s.cursors, key)
		}
	}
	e.ReadCursors = len(s.reads[user])
	delete(s.reads, user)
	return e, nil
}

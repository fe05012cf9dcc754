package memory

import (
	"context"
	"slices"

	"github.com/tripsense/tripsense"
)

// IsMember reports whether user is a member of room.
func (s *Store) IsMember(ctx context.Context, user, room string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.userRoom[user][room]
	return ok, nil
}

// Rooms returns the rooms of user, sorted.
func (s *Store) Rooms(ctx context.Context, user string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedKeys(s.userRoom[user]), nil
}

// Members returns the members of room, sorted.
func (s *Store) Members(ctx context.Context, room string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedKeys(s.members[room]), nil
}

// AddMember adds user to room; adding an existing member is not an error.
func (s *Store) AddMember(ctx context.Context, room, user string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	addTo(s.members, room, user)
	addTo(s.userRoom, user, room)
	return nil
}

// RemoveMember removes user from room; removing a non-member is not an error.
func (s *Store) RemoveMember(ctx context.Context, room, user string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	removeFrom(s.members, room, user)
	removeFrom(s.userRoom, user, room)
	return nil
}

func addTo(m map[string]map[string]struct{}, k, v string) {
	set, ok := m[k]
	if !ok {
		set = make(map[string]struct{})
		m[k] = set
	}
	set[v] = struct{}{}
}

func removeFrom(m map[string]map[string]struct{}, k, v string) {
	set := m[k]
	delete(set, v)
	if len(set) == 0 {
		delete(m, k)
	}
}

func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var _ tripsense.MembershipStore = (*Store)(nil)

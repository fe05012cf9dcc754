package catchup

import (
	"context"
	"fmt"
	"slices"

	"github.com/tripsense/tripsense"
)

// Range is the missed range (LastSeen, Head] of one room for one user.
type Range struct {
	Room     string
	LastSeen int64 // the effective cursor, clamped to [0, Head]
	Head     int64 // the room's highest index when the range was planned
}

// Unread returns how many messages the range holds: Head - LastSeen.
func (r Range) Unread() int64 { return r.Head - r.LastSeen }

// Plan returns the missed range of every room of user, sorted by room id,
// for the user's device (tripsense.DefaultDevice for a client that names
// none). For each room, lastSeen is cursors[room] when present (the
// client's own cursor wins) and the device's stored cursor otherwise,
// clamped to [0, head].
// Errors: EINVALID for a bad user, device or room id, a negative cursor or
// more than MaxCursors cursors; ENOTMEMBER when cursors names a room user
// is not in.
func (s *Service) Plan(ctx context.Context, user, device string, cursors map[string]int64) ([]Range, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	if err := checkDevice(device); err != nil {
		return nil, err
	}
	if err := checkCursors(cursors); err != nil {
		return nil, err
	}
	rooms, err := s.Store.Rooms(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("catchup: plan: rooms of %s: %w", user, err)
	}
	if !slices.IsSorted(rooms) { // the port promises sorted; do not depend on it
		rooms = slices.Clone(rooms)
		slices.Sort(rooms)
	}
	if err := checkMembers(rooms, cursors); err != nil {
		return nil, err
	}
	var stored map[string]int64
	if len(cursors) < len(rooms) { // some room has no client cursor
		cs, err := s.Store.Cursors(ctx, user, device)
		if err != nil {
			return nil, fmt.Errorf("catchup: plan: cursors of %s: %w", user, err)
		}
		stored = make(map[string]int64, len(cs))
		for _, c := range cs {
			stored[c.Room] = c.LastSeen
		}
	}
	plan := make([]Range, len(rooms))
	for i, room := range rooms {
		head, err := s.Store.Head(ctx, room)
		if err != nil {
			return nil, fmt.Errorf("catchup: plan: head of %s: %w", room, err)
		}
		last, ok := cursors[room]
		if !ok {
			last = stored[room]
		}
		plan[i] = Range{Room: room, LastSeen: min(max(last, 0), head), Head: head}
	}
	return plan, nil
}

func checkCursors(cursors map[string]int64) error {
	if len(cursors) > MaxCursors {
		return tripsense.Errorf(tripsense.EINVALID, "at most %d cursors", MaxCursors)
	}
	for room, last := range cursors {
		if err := checkRoom(room); err != nil {
			return err
		}
		if last < 0 {
			return tripsense.Errorf(tripsense.EINVALID, "cursor of %s must be a non-negative integer", room)
		}
	}
	return nil
}

// checkMembers returns ENOTMEMBER naming the smallest room of cursors that
// is not in rooms (sorted). The room id is the client's own input, so
// naming it leaks nothing.
func checkMembers(rooms []string, cursors map[string]int64) error {
	bad := ""
	for room := range cursors {
		if _, ok := slices.BinarySearch(rooms, room); !ok && (bad == "" || room < bad) {
			bad = room
		}
	}
	if bad != "" {
		return tripsense.Errorf(tripsense.ENOTMEMBER, "not a member of room %s", bad)
	}
	return nil
}

// page returns up to limit messages of room with after < index <= head, in
// index order. Messages above head (appended after head was read) belong to
// a later range and are dropped, so a page never contradicts its head.
func (s *Service) page(ctx context.Context, room string, after, head int64, limit int) ([]tripsense.Message, error) {
	if after >= head {
		return nil, nil
	}
	msgs, err := s.Store.MessagesAfter(ctx, room, after, limit)
	if err != nil {
		return nil, fmt.Errorf("catchup: messages of %s after %d: %w", room, after, err)
	}
	n := len(msgs)
	for n > 0 && msgs[n-1].Index > head {
		n--
	}
	return msgs[:n], nil
}

package catchup

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tripsense/tripsense"
)

// Range is the missed range (LastSeen, Head] of one room for one user. A
// room the client sent a cursor for but the user is not (or no longer) a
// member of gets a Range with only Room and Err (ENOTMEMBER) set: it fails
// alone, the other rooms are still caught up.
type Range struct {
	Room     string
	LastSeen int64 // the effective cursor, clamped to [0, Head]
	Head     int64 // the room's highest index when the range was planned
	Err      error // nil, or why this room cannot be caught up
	// Truncated says retention removed part of the range: the cursor was
	// below Oldest-1, and LastSeen was raised to Oldest-1 (the entries
	// before Oldest are gone). Never a silent gap.
	Truncated bool
	Oldest    int64 // the room's lowest kept index, when Truncated
}

// Unread returns how many messages the range holds: Head - LastSeen.
func (r Range) Unread() int64 { return r.Head - r.LastSeen }

// Plan returns the missed range of every room of user, sorted by room id,
// for the user's device (tripsense.DefaultDevice for a client that names
// none). For each room, lastSeen is cursors[room] when present (the
// client's own cursor wins) and the device's stored delivered cursor
// otherwise, clamped to [0, head]. A room of cursors that user is not in
// gets a Range whose Err is ENOTMEMBER (a client's stale room does not fail
// the others).
// Errors: EINVALID for a bad user, device or room id, a negative cursor or
// more than MaxCursors cursors.
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
	plan := make([]Range, 0, len(rooms))
	for _, room := range rooms {
		head, err := s.Store.Head(ctx, room)
		if err != nil {
			return nil, fmt.Errorf("catchup: plan: head of %s: %w", room, err)
		}
		last, ok := cursors[room]
		if !ok {
			last = stored[room]
		}
		rg := Range{Room: room, LastSeen: min(max(last, 0), head), Head: head}
		if err := s.truncate(ctx, &rg); err != nil {
			return nil, err
		}
		plan = append(plan, rg)
	}
	for _, room := range strangers(rooms, cursors) {
		plan = append(plan, Range{Room: room, Err: tripsense.Errorf(tripsense.ENOTMEMBER, "not a member of room %s", room)})
	}
	slices.SortFunc(plan, func(a, b Range) int { return strings.Compare(a.Room, b.Room) })
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

// strangers returns the rooms of cursors that are not in rooms (sorted).
// The room ids are the client's own input, so naming them leaks nothing;
// their entries say not_member and nothing about the room.
func strangers(rooms []string, cursors map[string]int64) []string {
	var out []string
	for room := range cursors {
		if _, ok := slices.BinarySearch(rooms, room); !ok {
			out = append(out, room)
		}
	}
	return out
}

// truncate raises rg.LastSeen to the room's oldest kept index - 1 when
// retention removed entries above the cursor, and says so.
func (s *Service) truncate(ctx context.Context, rg *Range) error {
	if rg.LastSeen >= rg.Head {
		return nil
	}
	oldest, err := s.Store.Oldest(ctx, rg.Room)
	if err != nil {
		return fmt.Errorf("catchup: plan: oldest of %s: %w", rg.Room, err)
	}
	if rg.LastSeen < oldest-1 {
		rg.LastSeen, rg.Truncated, rg.Oldest = min(oldest-1, rg.Head), true, oldest
	}
	return nil
}

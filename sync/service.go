package catchup

import (
	"context"
	"fmt"

	"github.com/tripsense/tripsense"
)

// Store is the part of tripsense.Store the service uses. Each method has
// the contract documented on the root package's ports (MessageStore,
// MembershipStore, CursorStore); any tripsense.Store satisfies it.
type Store interface {
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error)
	MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, error)
	Head(ctx context.Context, room string) (int64, error)
	IsMember(ctx context.Context, user, room string) (bool, error)
	Rooms(ctx context.Context, user string) ([]string, error)
	Cursors(ctx context.Context, user, device string) ([]tripsense.Cursor, error)
	AdvanceCursor(ctx context.Context, user, device, room string, lastSeen int64) (tripsense.Cursor, error)
}

var _ Store = tripsense.Store(nil)

// Service implements the catch-up use cases. It holds no state of its own
// and is safe for concurrent use when its Store is.
type Service struct {
	Store Store
}

// RoomSummary is one room of a user as GET /v1/rooms shows it.
type RoomSummary struct {
	Room     string `json:"chatroomId"`
	Head     int64  `json:"head"`
	LastSeen int64  `json:"lastSeen"`
	Unread   int64  `json:"unread"`
}

// errNotMember is the one answer a non-member gets, whatever the room.
func errNotMember() error {
	return tripsense.Errorf(tripsense.ENOTMEMBER, "not a member of this room")
}

func checkUser(user string) error {
	if !tripsense.ValidID(user) {
		return tripsense.Errorf(tripsense.EINVALID, "userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	return nil
}

func checkDevice(device string) error {
	if !tripsense.ValidDeviceID(device) {
		return tripsense.Errorf(tripsense.EINVALID, "deviceId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	return nil
}

func checkRoom(room string) error {
	if !tripsense.ValidID(room) {
		return tripsense.Errorf(tripsense.EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	return nil
}

// pageLimit returns the effective page size: DefaultPageLimit for 0, limit
// itself within 1..MaxPageLimit, EINVALID otherwise.
func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return tripsense.DefaultPageLimit, nil
	case limit < 0 || limit > tripsense.MaxPageLimit:
		return 0, tripsense.Errorf(tripsense.EINVALID, "limit must be between 1 and %d", tripsense.MaxPageLimit)
	}
	return limit, nil
}

// member checks that user is a member of room (both ids valid).
func (s *Service) member(ctx context.Context, op, user, room string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if err := checkRoom(room); err != nil {
		return err
	}
	ok, err := s.Store.IsMember(ctx, user, room)
	if err != nil {
		return fmt.Errorf("catchup: %s: membership of %s in %s: %w", op, user, room, err)
	}
	if !ok {
		return errNotMember()
	}
	return nil
}

// Rooms returns every room of user, sorted by id, with its head, the
// default device's stored cursor (clamped to the head) and the unread count
// head - lastSeen.
func (s *Service) Rooms(ctx context.Context, user string) ([]RoomSummary, error) {
	plan, err := s.Plan(ctx, user, tripsense.DefaultDevice, nil)
	if err != nil {
		return nil, err
	}
	out := make([]RoomSummary, len(plan))
	for i, r := range plan {
		out[i] = RoomSummary{Room: r.Room, Head: r.Head, LastSeen: r.LastSeen, Unread: r.Unread()}
	}
	return out, nil
}

// MarkRead advances the default device's cursor of (user, room) to index:
// never backwards, never past the room's head. It returns the resulting cursor,
// which is the unchanged one when index is not ahead of it.
// Errors: EINVALID (bad id, negative index), ENOTMEMBER.
func (s *Service) MarkRead(ctx context.Context, user, room string, index int64) (tripsense.Cursor, error) {
	if index < 0 {
		return tripsense.Cursor{}, tripsense.Errorf(tripsense.EINVALID, "lastSeen must be a non-negative integer")
	}
	if err := s.member(ctx, "mark read", user, room); err != nil {
		return tripsense.Cursor{}, err
	}
	c, err := s.Store.AdvanceCursor(ctx, user, tripsense.DefaultDevice, room, index)
	if err != nil {
		return tripsense.Cursor{}, fmt.Errorf("catchup: mark read %s in %s: %w", user, room, err)
	}
	return c, nil
}

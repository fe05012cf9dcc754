package catchup

import (
	"context"
	"fmt"
	"slices"

	"github.com/tripsense/tripsense"
)

// Store is the part of tripsense.Store the service uses. Each method has
// the contract documented on the root package's ports (MessageStore,
// MembershipStore, CursorStore, ReadStore); any tripsense.Store satisfies it.
type Store interface {
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error)
	MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, error)
	Head(ctx context.Context, room string) (int64, error)
	IsMember(ctx context.Context, user, room string) (bool, error)
	Rooms(ctx context.Context, user string) ([]string, error)
	Cursors(ctx context.Context, user, device string) ([]tripsense.Cursor, error)
	AdvanceCursor(ctx context.Context, user, device, room string, lastSeen int64) (tripsense.Cursor, error)
	Members(ctx context.Context, room string) ([]string, error)
	ReadCursors(ctx context.Context, user string) ([]tripsense.ReadCursor, error)
	AdvanceReadCursor(ctx context.Context, user, room string, lastRead int64) (tripsense.ReadCursor, bool, error)
	Receipts(ctx context.Context, room string) ([]tripsense.ReadCursor, error)
	Oldest(ctx context.Context, room string) (int64, error)
}

var _ Store = tripsense.Store(nil)

// Service implements the catch-up use cases. It holds no state of its own
// and is safe for concurrent use when its Store is.
type Service struct {
	Store Store
	// MaxAnswerBytes bounds the JSON of the messages of one answer (a Sync
	// over all its rooms, or a History page); 0 means
	// DefaultMaxAnswerBytes.
	MaxAnswerBytes int
	// Epoch, when set, is the store's epoch, written first in every
	// WriteSync answer ({"epoch":…,"rooms":…}): indexes and cursors are
	// meaningful only within one epoch, and a restored store has a new one.
	Epoch string
}

// RoomSummary is one room of a user as GET /v1/rooms shows it: the head,
// the user's read cursor and the unread count head - lastRead.
type RoomSummary struct {
	Room     string `json:"chatroomId"`
	Head     int64  `json:"head"`
	LastRead int64  `json:"lastRead"`
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

// Rooms returns every room of user, sorted by id, with its head, the user's
// read cursor (clamped to the head) and the unread count head - lastRead.
// Deliveries never change it: only MarkRead does.
func (s *Service) Rooms(ctx context.Context, user string) ([]RoomSummary, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	rooms, err := s.Store.Rooms(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("catchup: rooms of %s: %w", user, err)
	}
	reads, err := s.Store.ReadCursors(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("catchup: read cursors of %s: %w", user, err)
	}
	lastRead := make(map[string]int64, len(reads))
	for _, c := range reads {
		lastRead[c.Room] = c.LastRead
	}
	if !slices.IsSorted(rooms) {
		rooms = slices.Clone(rooms)
		slices.Sort(rooms)
	}
	out := make([]RoomSummary, len(rooms))
	for i, room := range rooms {
		head, err := s.Store.Head(ctx, room)
		if err != nil {
			return nil, fmt.Errorf("catchup: head of %s: %w", room, err)
		}
		read := min(max(lastRead[room], 0), head)
		out[i] = RoomSummary{Room: room, Head: head, LastRead: read, Unread: head - read}
	}
	return out, nil
}

// MarkRead advances the read cursor (lastRead) of (user, room) to index:
// never backwards, never past the room's head. It returns the resulting
// cursor, which is the unchanged one when index is not ahead of it, and
// whether it moved (a receipt is due). The delivered cursor is not touched.
// Errors: EINVALID (bad id, negative index), ENOTMEMBER.
func (s *Service) MarkRead(ctx context.Context, user, room string, index int64) (tripsense.ReadCursor, bool, error) {
	if index < 0 {
		return tripsense.ReadCursor{}, false, tripsense.Errorf(tripsense.EINVALID, "lastRead must be a non-negative integer")
	}
	if err := s.member(ctx, "mark read", user, room); err != nil {
		return tripsense.ReadCursor{}, false, err
	}
	c, moved, err := s.Store.AdvanceReadCursor(ctx, user, room, index)
	if err != nil {
		return tripsense.ReadCursor{}, false, fmt.Errorf("catchup: mark read %s in %s: %w", user, room, err)
	}
	return c, moved, nil
}

// Receipts returns the read cursors of room's current members, sorted by
// user, for user, who must be a member. Members who never marked the room
// read are left out. Errors: EINVALID, ENOTMEMBER.
func (s *Service) Receipts(ctx context.Context, user, room string) ([]tripsense.ReadCursor, error) {
	if err := s.member(ctx, "receipts", user, room); err != nil {
		return nil, err
	}
	all, err := s.Store.Receipts(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("catchup: receipts of %s: %w", room, err)
	}
	members, err := s.Store.Members(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("catchup: members of %s: %w", room, err)
	}
	if !slices.IsSorted(members) {
		members = slices.Clone(members)
		slices.Sort(members)
	}
	out := make([]tripsense.ReadCursor, 0, len(all))
	for _, c := range all {
		if _, ok := slices.BinarySearch(members, c.UserID); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

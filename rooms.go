package tripsense

import (
	"context"
	"time"
	"unicode/utf8"
)

// Room-log kinds beyond the message lifecycle: membership changes and
// renames are entries of the room's log too, so they reach online members
// live and offline ones through catch-up, with the same gap-free index.
//
// A KindMember entry keeps the member in UserID, the change (MemberJoined,
// MemberLeft, or MemberOwner: the member became the room's owner) in Type
// and who made it in Body; a KindRename entry keeps who
// renamed in UserID and the new name in Body. Stores append both without a
// rule (IsRoomKind): the service decided before.
const (
	KindMember = "member"
	KindRename = "rename"

	MemberJoined = "joined"
	MemberLeft   = "left"
	// MemberOwner: ownership of the room passed to the member.
	MemberOwner = "owner"
)

// IsRoomKind reports whether kind is a room event (membership, rename),
// which stores append as it is, without ApplyEvent.
func IsRoomKind(kind string) bool { return kind == KindMember || kind == KindRename }

// Decided reports whether a store must decide m by a rule in its append:
// a lifecycle event (ApplyEvent) or a reply (CheckReply).
func (m *NewMessage) Decided() bool {
	return (m.Kind != "" && !IsRoomKind(m.Kind)) || m.ReplyTo > 0
}

// Roles of a room member. A room has one owner: the user who created it,
// until the owner (or an admin) hands the room to another member
// (RoomStore.SetOwner); every other member is RoleMember. Admin principals
// may do whatever an owner may, in every room.
const (
	RoleOwner  = "owner"
	RoleMember = "member"
)

// Limits of user-created rooms.
const (
	MaxRoomNameBytes = 200
	// MaxRoomsPerUser bounds the rooms one user is a member of; creating a
	// room or adding the user beyond it is refused (ELIMIT).
	MaxRoomsPerUser = 1000
	// MaxMembersPerRoom bounds a room's members.
	MaxMembersPerRoom = 1000
	// MaxInitialMembers bounds the members named in one POST /v1/rooms.
	MaxInitialMembers = 100
)

// RoomInfo is a room's metadata. Rooms made before rooms had metadata (the
// seed's admin CLI, the demo) have none: RoomStore.Room answers ENOTFOUND
// for them, and they have no owner.
type RoomInfo struct {
	ID        string
	Name      string
	CreatedBy string // the creator
	CreatedAt time.Time
	// Owner is the user who manages the room with the admins: CreatedBy
	// until SetOwner hands the room on. Stores return it set.
	Owner string
}

// RoomStore keeps room metadata. Implemented by the stores that support
// user-created rooms (bolt, memory).
type RoomStore interface {
	// CreateRoom records r. It returns ECONFLICT when a room with r.ID
	// exists: metadata, members or messages.
	CreateRoom(ctx context.Context, r RoomInfo) error
	// Room returns the metadata of room, or ENOTFOUND.
	Room(ctx context.Context, room string) (RoomInfo, error)
	// RenameRoom sets the name of room (ENOTFOUND without metadata).
	RenameRoom(ctx context.Context, room, name string) error
	// SetOwner makes to the owner of room if from still is (ECONFLICT
	// otherwise: a compare-and-set, so that two changes decided from the
	// same owner cannot both land, across processes too); ENOTFOUND
	// without metadata. The caller checked that to is a member.
	SetOwner(ctx context.Context, room, from, to string) error
}

// ErrOwnerChanged is SetOwner's refusal when the room's owner is no longer
// the one the change was decided from.
func ErrOwnerChanged(room string) error {
	return Errorf(ECONFLICT, "the owner of room %s changed meanwhile; read the room and try again", room)
}

// ValidRoomName reports whether s is a room name: 1 to MaxRoomNameBytes
// bytes of UTF-8 without control characters.
func ValidRoomName(s string) bool {
	if s == "" || len(s) > MaxRoomNameBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// RoomState is what GET /v1/rooms/{room} shows: metadata, head, member count.
type RoomState struct {
	Info    RoomInfo
	Head    int64
	Members int
}

// RoomMember is one member of a room with its role (RoleOwner, RoleMember).
type RoomMember struct {
	UserID string `json:"userId"`
	Role   string `json:"role"`
}

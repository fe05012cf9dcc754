package ws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/tripsense/tripsense"
)

// Rooms users create: metadata (tripsense.RoomStore), one owner (the
// creator, until UpdateRoom hands the room to another member), members; every membership change and rename is an entry of the
// room's log (tripsense.KindMember, KindRename), appended and handed out
// like a message, so online members get it live and offline ones through
// catch-up.

// roomInfo returns the metadata of room; a room without (made by the admin
// CLI or the demo) gives an info with the id only and found false.
func (s *Service) roomInfo(ctx context.Context, room string) (tripsense.RoomInfo, bool, error) {
	info, err := s.Store.Room(ctx, room)
	switch {
	case err == nil:
		return info, true, nil
	case tripsense.ErrorCode(err) == tripsense.ENOTFOUND:
		return tripsense.RoomInfo{ID: room}, false, nil
	}
	return tripsense.RoomInfo{}, false, fmt.Errorf("room %s: %w", room, err)
}

func connOf(p tripsense.Principal) Conn { return Conn{UserID: p.UserID, Admin: p.Admin} }

// requireModerator refuses c unless it may manage room (canModerate).
func (s *Service) requireModerator(ctx context.Context, c Conn, room string) error {
	ok, err := s.canModerate(ctx, c, room)
	if err != nil {
		return err
	}
	if !ok {
		return notModerator(room)
	}
	return nil
}

func notModerator(room string) error {
	return tripsense.Errorf(tripsense.EFORBIDDEN, "only the room's owner or an admin may do this in room %s", room)
}

// requireReader refuses p unless it is a member of room or an admin.
func (s *Service) requireReader(ctx context.Context, p tripsense.Principal, room string) error {
	if !tripsense.ValidID(room) {
		return tripsense.Errorf(tripsense.EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	if p.Admin {
		return nil
	}
	return s.requireMember(ctx, p.UserID, room)
}

func newRoomID() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return "r_" + hex.EncodeToString(b[:])
}

// CreateRoom creates room id (generated when empty) named name, owned by
// p, with p and members as its members; each joins with a member entry in
// the log. It returns ECONFLICT when the id exists.
func (s *Service) CreateRoom(ctx context.Context, p tripsense.Principal, id, name string, members []string) (tripsense.RoomInfo, error) {
	rs := s.Store
	if id == "" {
		id = newRoomID()
	}
	switch {
	case !tripsense.ValidID(id):
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	case !tripsense.ValidRoomName(name):
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, "name must be 1-%d bytes of UTF-8 without control characters", tripsense.MaxRoomNameBytes)
	case len(members) > tripsense.MaxInitialMembers:
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.ETOOLARGE, "at most %d members when creating a room; add more after", tripsense.MaxInitialMembers)
	case !tripsense.ValidID(p.UserID):
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, "invalid userId")
	}
	all := []string{p.UserID}
	for _, m := range members {
		if !tripsense.ValidID(m) {
			return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, "members: %q is not a userId (1-%d characters of [A-Za-z0-9_.:@-])", truncate(m, 64), tripsense.MaxIDLen)
		}
		if !slices.Contains(all, m) {
			all = append(all, m)
		}
	}
	for _, u := range all {
		if err := s.checkRoomsPerUser(ctx, u); err != nil {
			return tripsense.RoomInfo{}, err
		}
	}
	info := tripsense.RoomInfo{ID: id, Name: name, CreatedBy: p.UserID, Owner: p.UserID, CreatedAt: s.now().UTC().Truncate(time.Millisecond)}
	if err := rs.CreateRoom(ctx, info); err != nil {
		if tripsense.ErrorCode(err) == tripsense.ECONFLICT {
			return tripsense.RoomInfo{}, err
		}
		return tripsense.RoomInfo{}, fmt.Errorf("create room: %w", err)
	}
	for _, u := range all {
		if err := s.addMember(ctx, id, u, p.UserID); err != nil {
			return tripsense.RoomInfo{}, err
		}
	}
	return info, nil
}

func (s *Service) checkRoomsPerUser(ctx context.Context, user string) error {
	rooms, err := s.Store.Rooms(ctx, user)
	if err != nil {
		return fmt.Errorf("rooms of %s: %w", user, err)
	}
	if len(rooms) >= tripsense.MaxRoomsPerUser {
		return tripsense.Errorf(tripsense.ECONFLICT, "user %s is in %d rooms, the limit", user, tripsense.MaxRoomsPerUser)
	}
	return nil
}

// Room returns the metadata, head and member count of room (members and
// admins).
func (s *Service) Room(ctx context.Context, p tripsense.Principal, room string) (tripsense.RoomState, error) {
	if err := s.requireReader(ctx, p, room); err != nil {
		return tripsense.RoomState{}, err
	}
	info, found, err := s.roomInfo(ctx, room)
	if err != nil {
		return tripsense.RoomState{}, err
	}
	members, err := s.Store.Members(ctx, room)
	if err != nil {
		return tripsense.RoomState{}, fmt.Errorf("members: %w", err)
	}
	head, err := s.Store.Head(ctx, room)
	if err != nil {
		return tripsense.RoomState{}, fmt.Errorf("head: %w", err)
	}
	if !found && len(members) == 0 && head == 0 {
		return tripsense.RoomState{}, tripsense.Errorf(tripsense.ENOTFOUND, "no room %s", room)
	}
	return tripsense.RoomState{Info: info, Head: head, Members: len(members)}, nil
}

// RoomMembers lists the members of room with their roles (members and
// admins). On DynamoDB the list comes from an eventually consistent index.
func (s *Service) RoomMembers(ctx context.Context, p tripsense.Principal, room string) ([]tripsense.RoomMember, error) {
	if err := s.requireReader(ctx, p, room); err != nil {
		return nil, err
	}
	info, _, err := s.roomInfo(ctx, room)
	if err != nil {
		return nil, err
	}
	users, err := s.Store.Members(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	out := make([]tripsense.RoomMember, 0, len(users))
	for _, u := range users {
		role := tripsense.RoleMember
		if u == info.Owner {
			role = tripsense.RoleOwner
		}
		out = append(out, tripsense.RoomMember{UserID: u, Role: role})
	}
	return out, nil
}

// UpdateRoom renames room (name), hands it to another member (owner), or
// both, on behalf of p: the room's owner or an admin. Everything is checked
// before anything changes, so a refused owner leaves the name as it was. A
// rename entry and an owner member entry ("owner", by p) go into the log,
// in that order, so members learn both live and through catch-up; handing
// the room to its owner changes nothing. The previous owner stays a member
// (and may leave). A room without metadata (made by the admin CLI or the
// demo) has neither: ENOTFOUND.
//
// The decision holds lockMembership, so in one process two changes decided
// by the same owner do not both land and the new owner stays a member
// until the change is stored; across processes SetOwner's compare-and-set
// refuses the second (ECONFLICT). Like a membership change, the store
// write comes before its entry: a crash between them leaves the new owner
// without its entry.
func (s *Service) UpdateRoom(ctx context.Context, p tripsense.Principal, room string, name, owner *string) (tripsense.RoomInfo, error) {
	switch {
	case !tripsense.ValidID(room):
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	case name == nil && owner == nil:
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, `a room update needs "name", "owner" or both`)
	case name != nil && !tripsense.ValidRoomName(*name):
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, "name must be 1-%d bytes of UTF-8 without control characters", tripsense.MaxRoomNameBytes)
	case owner != nil && !tripsense.ValidID(*owner):
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.EINVALID, "owner must be a userId: 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	locked := p.UserID
	if owner != nil {
		locked = *owner
	}
	defer s.lockMembership(room, locked)()
	info, found, err := s.roomInfo(ctx, room)
	if err != nil {
		return tripsense.RoomInfo{}, err
	}
	if ok, err := s.moderates(ctx, connOf(p), info, found); err != nil {
		return tripsense.RoomInfo{}, err
	} else if !ok {
		return tripsense.RoomInfo{}, notModerator(room)
	}
	if !found {
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.ENOTFOUND, "room %s has no metadata (made by the admin CLI or the demo): no name or owner to change", room)
	}
	handOver := owner != nil && *owner != info.Owner
	if handOver {
		member, err := s.Store.IsMember(ctx, *owner, room)
		if err != nil {
			return tripsense.RoomInfo{}, fmt.Errorf("update room: %w", err)
		}
		if !member {
			return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.ECONFLICT, "%s is not a member of room %s: add them first", *owner, room)
		}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	if name != nil {
		if err := s.Store.RenameRoom(ctx, room, *name); err != nil {
			return tripsense.RoomInfo{}, roomUpdateErr("rename", err)
		}
		if _, _, err := s.handOut(ctx, Conn{}, tripsense.NewMessage{Room: room, UserID: p.UserID, Kind: tripsense.KindRename, Body: *name, CreateTime: now}); err != nil {
			return tripsense.RoomInfo{}, err
		}
		info.Name = *name
	}
	if handOver {
		if err := s.Store.SetOwner(ctx, room, info.Owner, *owner); err != nil {
			return tripsense.RoomInfo{}, roomUpdateErr("hand on", err)
		}
		if _, _, err := s.handOut(ctx, Conn{}, memberEntry(room, *owner, tripsense.MemberOwner, p.UserID, now)); err != nil {
			return tripsense.RoomInfo{}, err
		}
		info.Owner = *owner
	}
	return info, nil
}

// roomUpdateErr passes a store's refusal (ENOTFOUND, ECONFLICT) as it is
// and wraps anything else.
func roomUpdateErr(what string, err error) error {
	switch tripsense.ErrorCode(err) {
	case tripsense.ENOTFOUND, tripsense.ECONFLICT:
		return err
	}
	return fmt.Errorf("%s room: %w", what, err)
}

// AddMemberAs adds user to room on behalf of p: the room's owner or an
// admin. Adding a member again changes nothing.
func (s *Service) AddMemberAs(ctx context.Context, p tripsense.Principal, room, user string) error {
	if !tripsense.ValidID(room) || !tripsense.ValidID(user) {
		return tripsense.Errorf(tripsense.EINVALID, "room and userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	if err := s.requireModerator(ctx, connOf(p), room); err != nil {
		return err
	}
	return s.addMember(ctx, room, user, p.UserID)
}

// RemoveMemberAs removes user from room on behalf of p: the room's owner,
// an admin, or user itself (leaving). Removing a non-member changes nothing.
func (s *Service) RemoveMemberAs(ctx context.Context, p tripsense.Principal, room, user string) error {
	if !tripsense.ValidID(room) || !tripsense.ValidID(user) {
		return tripsense.Errorf(tripsense.EINVALID, "room and userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	if p.UserID != user {
		if err := s.requireModerator(ctx, connOf(p), room); err != nil {
			return err
		}
	}
	return s.removeMember(ctx, room, user, p.UserID)
}

// AddMember adds user to room as the system (the admin routes' caller is
// checked by the API): see AddMemberAs.
func (s *Service) AddMember(ctx context.Context, room, user string) error {
	if !tripsense.ValidID(room) || !tripsense.ValidID(user) {
		return tripsense.Errorf(tripsense.EINVALID, "room and userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	return s.addMember(ctx, room, user, "")
}

// RemoveMember removes user from room as the system: see RemoveMemberAs.
func (s *Service) RemoveMember(ctx context.Context, room, user string) error {
	if !tripsense.ValidID(room) || !tripsense.ValidID(user) {
		return tripsense.Errorf(tripsense.EINVALID, "room and userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	return s.removeMember(ctx, room, user, "")
}

// addMember adds user to room and makes the user's online connections
// receive it from then on; a member entry ("joined", by) goes into the
// log and to the room's online connections, the new member's included.
// Store first, then the entry: a crash between them leaves a member
// without its entry (a retry finds the member and appends nothing). The
// whole change holds lockMembership, so the limits hold exactly in one
// process.
func (s *Service) addMember(ctx context.Context, room, user, by string) error {
	defer s.lockMembership(room, user)()
	already, err := s.Store.IsMember(ctx, user, room)
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	if already {
		return nil
	}
	if err := s.checkRoomsPerUser(ctx, user); err != nil {
		return err
	}
	members, err := s.Store.Members(ctx, room)
	if err != nil {
		return fmt.Errorf("add member: members: %w", err)
	}
	if len(members) >= tripsense.MaxMembersPerRoom {
		return tripsense.Errorf(tripsense.ECONFLICT, "room %s has %d members, the limit", room, tripsense.MaxMembersPerRoom)
	}
	if err := s.Store.AddMember(ctx, room, user); err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	if err := s.Presence.Join(ctx, user, room); err != nil {
		return fmt.Errorf("add member: presence: %w", err)
	}
	// A member added back keeps its cursors: each online connection's
	// watermark starts at its device's, as it would have on connect.
	conns, err := s.Presence.UserConnections(ctx, user)
	if err != nil {
		return fmt.Errorf("add member: connections: %w", err)
	}
	for _, c := range conns {
		cur, err := s.Store.Cursor(ctx, user, c.DeviceID, room)
		if err != nil {
			return fmt.Errorf("add member: cursor: %w", err)
		}
		if cur.LastSeen <= 0 {
			continue
		}
		if err := s.Presence.SeenThrough(ctx, c.ID, room, cur.LastSeen); err != nil && tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
			return fmt.Errorf("add member: baseline: %w", err)
		}
	}
	_, _, err = s.handOut(ctx, Conn{}, memberEntry(room, user, tripsense.MemberJoined, by, s.now()))
	return err
}

// removeMember removes user from room; the user's online connections stop
// receiving it at once: the member entry ("left") is the last entry of the
// room they get. The remaining online members get it too.
func (s *Service) removeMember(ctx context.Context, room, user, by string) error {
	defer s.lockMembership(room, user)()
	was, err := s.Store.IsMember(ctx, user, room)
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	if !was {
		return nil
	}
	// Store first: a connect that reads the rooms after this sees the
	// removal, and one that read them before is caught by the Leave below
	// or by its own second read.
	if err := s.Store.RemoveMember(ctx, room, user); err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	// The entry is handed out while the user's connections still receive
	// the room, then they leave it: nothing of the room reaches them after.
	_, _, herr := s.handOut(ctx, Conn{}, memberEntry(room, user, tripsense.MemberLeft, by, s.now()))
	if err := s.Presence.Leave(ctx, user, room); err != nil {
		return fmt.Errorf("remove member: presence: %w", err)
	}
	return herr
}

func memberEntry(room, user, event, by string, now time.Time) tripsense.NewMessage {
	return tripsense.NewMessage{Room: room, UserID: user, Kind: tripsense.KindMember, Type: event, Body: by,
		CreateTime: now.UTC().Truncate(time.Millisecond)}
}

// PostMessage is the HTTP send (POST /v1/rooms/{room}/messages): the same
// validation, membership check, idempotency, durability and fan-out as the
// WebSocket sendMessage, through the same handOut. An admin principal may
// post to any room (system messages, under its own userId). It returns the
// stored message and duplicate true for a retried clientMsgId.
func (s *Service) PostMessage(ctx context.Context, p tripsense.Principal, nm tripsense.NewMessage) (tripsense.Message, bool, error) {
	nm.UserID = p.UserID
	nm.Kind, nm.Target, nm.Reaction, nm.Remove, nm.Moderator = "", 0, "", false, false
	nm.CreateTime = s.now().UTC().Truncate(time.Millisecond)
	if nm.ReplyTo < 0 {
		return tripsense.Message{}, false, tripsense.Errorf(tripsense.EINVALID, `"replyTo" must be the positive index of a message of the room`)
	}
	if err := tripsense.ValidateNewMessageMax(nm, s.MaxChatMessageBytes); err != nil {
		return tripsense.Message{}, false, err
	}
	if err := s.requireReader(ctx, p, nm.Room); err != nil {
		return tripsense.Message{}, false, err
	}
	return s.handOut(ctx, Conn{UserID: p.UserID, Admin: p.Admin}, nm)
}

package ws

import (
	"context"
	"fmt"
	"time"

	"github.com/tripsense/tripsense"
)

// lifecycleEvent runs editMessage {chatroomId,index,chatMessage},
// deleteMessage {chatroomId,index} and react
// {chatroomId,index,reaction,remove?}: each appends an event to the room's
// log through the same path as sendMessage (appendEntry: the room's next
// index, clientMsgId idempotency, durable before the ack, hand-out order,
// watermarks), and the room's online members get the live frame
// ({"type":"edit"|"delete"|"reaction",...,"index":E,"target":T}). The
// rules are decided by the store's append (tripsense.ApplyEvent), after
// membership is checked here; a refusal stores nothing and is answered
// with forbidden or bad_request.
func (s *Service) lifecycleEvent(ctx context.Context, c Conn, f *inFrame) error {
	if err := checkUser(c, f); err != nil {
		return err
	}
	if f.Index == nil {
		return tripsense.Errorf(tripsense.EINVALID, `%s needs "chatroomId" and the "index" of a message`, f.Action)
	}
	ev := tripsense.NewMessage{
		Room: f.ChatroomID, UserID: c.UserID, Target: *f.Index, ClientMsgID: f.ClientMsgID,
		CreateTime: s.now().UTC().Truncate(time.Millisecond),
	}
	switch f.Action {
	case "editMessage":
		if f.ChatMessage == nil {
			return tripsense.Errorf(tripsense.EINVALID, `editMessage needs "chatroomId", "index" and "chatMessage"`)
		}
		ev.Kind, ev.Body = tripsense.KindEdit, *f.ChatMessage
	case "deleteMessage":
		ev.Kind = tripsense.KindDelete
	case "react":
		ev.Kind, ev.Reaction, ev.Remove = tripsense.KindReaction, f.Reaction, f.Remove
	}
	if err := tripsense.ValidateEvent(ev, s.MaxChatMessageBytes); err != nil {
		return err
	}
	if err := s.requireMember(ctx, c.UserID, ev.Room); err != nil {
		return err
	}
	if ev.Kind == tripsense.KindDelete {
		mod, err := s.canModerate(ctx, c, ev.Room)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		ev.Moderator = mod
	}
	return s.appendEntry(ctx, c, ev)
}

// canModerate reports whether the connection's user may delete other
// users' messages in room and manage it (rename, hand on, add and remove
// members): an admin principal, or the room's owner (its creator, or the
// member it was handed to: UpdateRoom) while a member of it; an owner who
// left, was removed or was erased has no say (an admin may add them back,
// or hand the room on). The one place of the check, for every runtime and
// route.
func (s *Service) canModerate(ctx context.Context, c Conn, room string) (bool, error) {
	if c.Admin {
		return true, nil
	}
	info, found, err := s.roomInfo(ctx, room)
	if err != nil {
		return false, err
	}
	return s.moderates(ctx, c, info, found)
}

// moderates is canModerate's rule for a room whose metadata the caller
// read already (roomInfo: info, found).
func (s *Service) moderates(ctx context.Context, c Conn, info tripsense.RoomInfo, found bool) (bool, error) {
	if c.Admin {
		return true, nil
	}
	if !found || info.Owner != c.UserID {
		return false, nil
	}
	member, err := s.Store.IsMember(ctx, c.UserID, info.ID)
	if err != nil {
		return false, fmt.Errorf("moderator: %w", err)
	}
	return member, nil
}

// EraseUser honours an erasure request for user (DELETE /v1/users/{userId},
// admins): it closes and forgets the user's online connections first,
// without recording their cursors, then has the store remove the user's
// data (tripsense.LifecycleStore.EraseUser: every message and edit body,
// memberships, delivered and read cursors), and tells the rooms the user
// was in with a member frame ("left"). It returns the counts; a second
// call finds nothing and returns zeros.
func (s *Service) EraseUser(ctx context.Context, user string) (tripsense.Erasure, error) {
	if !tripsense.ValidID(user) {
		return tripsense.Erasure{}, tripsense.Errorf(tripsense.EINVALID, "userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	conns, err := s.Presence.UserConnections(ctx, user)
	if err != nil {
		return tripsense.Erasure{}, fmt.Errorf("erase: connections: %w", err)
	}
	closed := 0
	for _, c := range conns {
		// Unregister first: the connection's own disconnect then finds
		// nothing and writes no cursor after the erasure.
		if _, _, err := s.Presence.Unregister(ctx, c.ID); err != nil {
			if tripsense.ErrorCode(err) == tripsense.ENOTFOUND {
				continue
			}
			return tripsense.Erasure{}, fmt.Errorf("erase: unregister %s: %w", c.ID, err)
		}
		if err := s.Pusher.Close(ctx, c.ID, CloseRemoved, "user erased"); err != nil && tripsense.ErrorCode(err) != tripsense.EGONE {
			s.log().Warn("close erased user's connection", "conn", c.ID, "err", err)
		}
		closed++
	}
	rooms, err := s.Store.Rooms(ctx, user)
	if err != nil {
		return tripsense.Erasure{}, fmt.Errorf("erase: rooms: %w", err)
	}
	e, err := s.Store.EraseUser(ctx, user)
	if err != nil {
		return tripsense.Erasure{}, fmt.Errorf("erase: %w", err)
	}
	e.Connections = closed
	for _, room := range rooms {
		if err := s.Presence.Leave(ctx, user, room); err != nil {
			s.log().Warn("erase: leave", "room", room, "err", err)
		}
		s.pushRoom(ctx, room, "", memberFrame(room, user, memberLeft))
	}
	return e, nil
}

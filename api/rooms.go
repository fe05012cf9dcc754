package api

import (
	"net/http"

	"github.com/tripsense/tripsense"
)

// roomBody is the body of POST /v1/rooms.
type roomBody struct {
	ChatroomID string   `json:"chatroomId"`
	Name       string   `json:"name"`
	Members    []string `json:"members"`
}

// patchRoomBody is the body of PATCH /v1/rooms/{room}: a new name, a new
// owner, or both.
type patchRoomBody struct {
	Name  *string `json:"name"`
	Owner *string `json:"owner"`
}

// roomJSON is a room's metadata; GET adds head and memberCount.
type roomJSON struct {
	Room        string `json:"chatroomId"`
	Name        string `json:"name"`
	CreatedBy   string `json:"createdBy"`
	CreatedAt   string `json:"createdAt,omitempty"`
	Owner       string `json:"owner,omitempty"`
	Head        *int64 `json:"head,omitempty"`
	MemberCount *int   `json:"memberCount,omitempty"`
}

func toRoomJSON(i tripsense.RoomInfo) roomJSON {
	j := roomJSON{Room: i.ID, Name: i.Name, CreatedBy: i.CreatedBy, Owner: i.Owner}
	if !i.CreatedAt.IsZero() {
		j.CreatedAt = tripsense.FormatTime(i.CreatedAt)
	}
	return j
}

// postRoom serves POST /v1/rooms: any user creates a room and owns it.
func (s *server) postRoom(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body roomBody
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.members.CreateRoom(r.Context(), p, body.ChatroomID, body.Name, body.Members)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toRoomJSON(info))
}

// getRoom serves GET /v1/rooms/{room} (members, admins).
func (s *server) getRoom(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	st, err := s.members.Room(r.Context(), p, room)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j := toRoomJSON(st.Info)
	j.Head, j.MemberCount = &st.Head, &st.Members
	writeJSON(w, http.StatusOK, j)
}

// patchRoom serves PATCH /v1/rooms/{room} {"name","owner"} (the owner,
// admins): a rename, a change of owner, or both; nothing changes when any
// part is refused.
func (s *server) patchRoom(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	var body patchRoomBody
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.members.UpdateRoom(r.Context(), p, room, body.Name, body.Owner)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRoomJSON(info))
}

// getMembers serves GET /v1/rooms/{room}/members (members, admins).
func (s *server) getMembers(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	ms, err := s.members.RoomMembers(r.Context(), p, room)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ms == nil {
		ms = []tripsense.RoomMember{}
	}
	writeJSON(w, http.StatusOK, struct {
		Room    string                 `json:"chatroomId"`
		Members []tripsense.RoomMember `json:"members"`
	}{room, ms})
}

// sendBody is the body of POST /v1/rooms/{room}/messages.
type sendBody struct {
	ChatMessage *string `json:"chatMessage"`
	MessageType string  `json:"messageType"`
	ClientMsgID string  `json:"clientMsgId"`
	ReplyTo     int64   `json:"replyTo"`
}

type sentJSON struct {
	Room        string `json:"chatroomId"`
	Index       int64  `json:"index"`
	UserID      string `json:"userId"`
	CreateTime  string `json:"createTime"`
	ClientMsgID string `json:"clientMsgId,omitempty"`
	ReplyTo     int64  `json:"replyTo,omitempty"`
	Duplicate   bool   `json:"duplicate"`
}

// postMessage serves POST /v1/rooms/{room}/messages: 201 for a stored
// message, 200 with "duplicate":true and the original for a retried
// clientMsgId.
func (s *server) postMessage(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	var body sendBody
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.ChatMessage == nil {
		s.writeError(w, r, tripsense.Errorf(tripsense.EINVALID, `the body needs "chatMessage" and "messageType"`))
		return
	}
	m, dup, err := s.members.PostMessage(r.Context(), p, tripsense.NewMessage{Room: room, Body: *body.ChatMessage,
		Type: body.MessageType, ClientMsgID: body.ClientMsgID, ReplyTo: body.ReplyTo})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if dup {
		status = http.StatusOK
	}
	ct := ""
	if !m.CreateTime.IsZero() {
		ct = m.CreateTime.UTC().Format(tripsense.TimeLayout)
	}
	writeJSON(w, status, sentJSON{Room: m.Room, Index: m.Index, UserID: m.UserID, CreateTime: ct,
		ClientMsgID: m.ClientMsgID, ReplyTo: m.ReplyTo, Duplicate: dup})
}

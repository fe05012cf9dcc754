package api

import (
	"net/http"

	"github.com/tripsense/tripsense"
)

// memberBody is the body of POST /v1/rooms/{room}/members.
type memberBody struct {
	UserID string `json:"userId"`
}

// membershipJSON is the answer of both member routes.
type membershipJSON struct {
	Room   string `json:"chatroomId"`
	UserID string `json:"userId"`
	Member bool   `json:"member"`
}

// postMember serves POST /v1/rooms/{room}/members {"userId":..} (the
// room's owner, admins). Adding an existing member succeeds.
func (s *server) postMember(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	var body memberBody
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !tripsense.ValidID(body.UserID) {
		s.writeError(w, r, tripsense.Errorf(tripsense.EINVALID, "userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen))
		return
	}
	if err := s.members.AddMemberAs(r.Context(), p, room, body.UserID); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, membershipJSON{Room: room, UserID: body.UserID, Member: true})
}

// deleteMember serves DELETE /v1/rooms/{room}/members/{userId} (the
// room's owner, admins, or the member itself: leaving). Removing a
// non-member succeeds.
func (s *server) deleteMember(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	user, err := idParam(r, "userId")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.members.RemoveMemberAs(r.Context(), p, room, user); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, membershipJSON{Room: room, UserID: user, Member: false})
}

// erasureJSON is the answer of DELETE /v1/users/{userId}.
type erasureJSON struct {
	UserID string            `json:"userId"`
	Erased tripsense.Erasure `json:"erased"`
}

// deleteUser serves DELETE /v1/users/{userId} (admins): the user's
// erasure. It answers with what was removed; erasing again answers zeros.
func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	user, err := idParam(r, "userId")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.members.EraseUser(r.Context(), user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, erasureJSON{UserID: user, Erased: e})
}

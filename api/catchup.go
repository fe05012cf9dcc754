package api

import (
	"math"
	"net/http"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

// getSync serves GET /v1/sync?after=room:N,room:N&limit=M&deviceId=D:
// the rooms without a cursor in after start from device D's stored cursor
// (the default device's without deviceId).
func (s *server) getSync(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := query(r, "after", "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	device, err := tripsense.ParseDeviceID(q["deviceId"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cursors, err := catchup.ParseCursors(q.Get("after"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := limitParam(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rooms, err := s.sync.Sync(r.Context(), p.UserID, device, cursors, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	size := 16
	for i := range rooms {
		size += catchup.EstimateSize(rooms[i].Messages)
	}
	bp := getBuffer(size)
	defer putBuffer(bp)
	b := append(*bp, `{"rooms":[`...)
	for i := range rooms {
		if i > 0 {
			b = append(b, ',')
		}
		b = rooms[i].AppendJSON(b)
	}
	b = append(b, "]}\n"...)
	*bp = b
	writeRaw(w, http.StatusOK, b)
}

// getRooms serves GET /v1/rooms.
func (s *server) getRooms(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rooms, err := s.sync.Rooms(r.Context(), p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rooms == nil {
		rooms = []catchup.RoomSummary{}
	}
	writeJSON(w, http.StatusOK, struct {
		Rooms []catchup.RoomSummary `json:"rooms"`
	}{rooms})
}

// getMessages serves GET /v1/rooms/{room}/messages with ?after=N (the
// ascending page) or ?before=N (the older page); with neither it is the
// newest page. limit is optional.
func (s *server) getMessages(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	room, err := idParam(r, "room")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after, before, limit, err := historyParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.sync.History(r.Context(), p.UserID, room, after, before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	bp := getBuffer(catchup.EstimateSize(page.Messages))
	defer putBuffer(bp)
	b := append(page.AppendJSON(*bp), '\n')
	*bp = b
	writeRaw(w, http.StatusOK, b)
}

func historyParams(r *http.Request) (after, before int64, limit int, err error) {
	q, err := query(r, "after", "before", "limit")
	if err != nil {
		return 0, 0, 0, err
	}
	after, hasAfter, err := uintParam(q, "after")
	if err != nil {
		return 0, 0, 0, err
	}
	before, hasBefore, err := uintParam(q, "before")
	if err != nil || (hasBefore && before < 1) {
		return 0, 0, 0, tripsense.Errorf(tripsense.EINVALID, "before must be a positive integer")
	}
	switch {
	case hasAfter && hasBefore:
		return 0, 0, 0, tripsense.Errorf(tripsense.EINVALID, "after and before cannot be combined")
	case !hasAfter && !hasBefore:
		before = math.MaxInt64 // the newest page
	}
	limit, err = limitParam(q)
	return after, before, limit, err
}

// cursorBody is the body of PUT /v1/rooms/{room}/cursor.
type cursorBody struct {
	LastSeen *int64 `json:"lastSeen"`
}

// cursorJSON is a read cursor on the wire.
type cursorJSON struct {
	UserID    string `json:"userId"`
	Room      string `json:"chatroomId"`
	LastSeen  int64  `json:"lastSeen"`
	UpdatedAt string `json:"updatedAt,omitempty"`
}

// putCursor serves PUT /v1/rooms/{room}/cursor {"lastSeen":N}.
func (s *server) putCursor(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	room, err := idParam(r, "room")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body cursorBody
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.LastSeen == nil {
		s.writeError(w, r, tripsense.Errorf(tripsense.EINVALID, "lastSeen is required"))
		return
	}
	c, err := s.sync.MarkRead(r.Context(), p.UserID, room, *body.LastSeen)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := cursorJSON{UserID: c.UserID, Room: c.Room, LastSeen: c.LastSeen}
	if !c.UpdatedAt.IsZero() {
		out.UpdatedAt = tripsense.FormatTime(c.UpdatedAt)
	}
	writeJSON(w, http.StatusOK, out)
}

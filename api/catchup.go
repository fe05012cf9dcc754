package api

import (
	"io"
	"log/slog"
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
	s.stream(w, r, func(aw io.Writer) error {
		return s.sync.WriteSync(r.Context(), aw, p.UserID, device, cursors, limit)
	})
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
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	after, before, limit, err := historyParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.stream(w, r, func(aw io.Writer) error {
		return s.sync.WriteHistory(r.Context(), aw, p.UserID, room, after, before, limit)
	})
}

// stream answers 200 with the JSON that write streams. The status and the
// headers go out with the first bytes, so an error that write reports
// before writing anything (a bad request, a non-member, a store failure in
// the first 32 KiB) is answered as usual. A client that stops reading or
// goes away ends the request quietly. A store failure after part of the
// answer went out aborts the response (the client sees a truncated body,
// never a complete-looking page) and is logged.
func (s *server) stream(w http.ResponseWriter, r *http.Request, write func(io.Writer) error) {
	aw := &answerWriter{w: w}
	err := write(aw)
	switch {
	case err == nil:
	case !aw.started:
		s.writeError(w, r, err)
	case aw.err != nil || r.Context().Err() != nil:
	default:
		s.log.ErrorContext(r.Context(), "request failed mid-answer", requestAttrs(r, http.StatusOK, slog.Any("error", err))...)
		panic(http.ErrAbortHandler)
	}
}

// answerWriter sends the headers of a 200 JSON answer before its first
// bytes, and remembers the first error of the underlying writer.
type answerWriter struct {
	w       http.ResponseWriter
	started bool
	err     error
}

func (a *answerWriter) Write(p []byte) (int, error) {
	if !a.started {
		a.started = true
		setJSONHeaders(a.w.Header())
		a.w.WriteHeader(http.StatusOK)
	}
	n, err := a.w.Write(p)
	if err != nil && a.err == nil {
		a.err = err
	}
	return n, err
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
	LastRead *int64 `json:"lastRead"`
}

// readCursorJSON is a read cursor on the wire.
type readCursorJSON struct {
	UserID    string `json:"userId"`
	Room      string `json:"chatroomId,omitempty"`
	LastRead  int64  `json:"lastRead"`
	UpdatedAt string `json:"updatedAt,omitempty"`
}

func toReadCursorJSON(c tripsense.ReadCursor, withRoom bool) readCursorJSON {
	out := readCursorJSON{UserID: c.UserID, LastRead: c.LastRead}
	if withRoom {
		out.Room = c.Room
	}
	if !c.UpdatedAt.IsZero() {
		out.UpdatedAt = tripsense.FormatTime(c.UpdatedAt)
	}
	return out
}

// putCursor serves PUT /v1/rooms/{room}/cursor {"lastRead":N}: it moves
// the caller's read cursor (never backwards, clamped to the head) and
// answers the resulting one.
func (s *server) putCursor(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	var body cursorBody
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.LastRead == nil {
		s.writeError(w, r, tripsense.Errorf(tripsense.EINVALID, "lastRead is required"))
		return
	}
	c, err := s.reads.MarkRead(r.Context(), p.UserID, room, *body.LastRead)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toReadCursorJSON(c, true))
}

// getReceipts serves GET /v1/rooms/{room}/receipts (members only):
// {"chatroomId":R,"receipts":[{"userId":U,"lastRead":N,"updatedAt":T}]}.
func (s *server) getReceipts(w http.ResponseWriter, r *http.Request) {
	p, room, ok := s.roomRequest(w, r)
	if !ok {
		return
	}
	if _, err := query(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	cs, err := s.sync.Receipts(r.Context(), p.UserID, room)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Room     string           `json:"chatroomId"`
		Receipts []readCursorJSON `json:"receipts"`
	}{Room: room, Receipts: make([]readCursorJSON, 0, len(cs))}
	for _, c := range cs {
		out.Receipts = append(out.Receipts, toReadCursorJSON(c, false))
	}
	writeJSON(w, http.StatusOK, out)
}

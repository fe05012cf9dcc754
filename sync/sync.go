package catchup

import (
	"context"
	"io"
	"strconv"

	"github.com/tripsense/tripsense"
)

// RoomSync is the first page of one room's missed range (GET /v1/sync).
//
// Messages covers the indexes [From, To]: From = LastSeen+1 and To = the
// index of the last message in Messages, or LastSeen when Messages is empty
// (then From > To and nothing was missed or nothing is left). Complete is
// true when To == Head: the range is exhausted. Otherwise Next = To is the
// index to continue after (after=room:Next or
// /v1/rooms/{room}/messages?after=Next); Next is 0 and left out of the JSON
// when Complete.
type RoomSync struct {
	Room     string
	LastSeen int64 // effective cursor, clamped to [0, Head]
	Head     int64
	Unread   int64 // Head - LastSeen: the size of the missed range
	From     int64
	To       int64
	Messages []tripsense.Message
	Complete bool
	Next     int64
	// Err is set (ENOTMEMBER) for a room the client sent a cursor for but
	// the user is not a member of; only Room is set besides it.
	Err error
	// Truncated says retention removed entries after the client's cursor:
	// the page starts at Oldest, the lowest index kept.
	Truncated bool
	Oldest    int64
}

// newRoomSync builds the RoomSync of rg whose page ends at index to (the
// last message's, or rg.LastSeen when the page is empty), without messages.
// A range with Err gives a RoomSync with only Room and Err.
func newRoomSync(rg Range, to int64) RoomSync {
	if rg.Err != nil {
		return RoomSync{Room: rg.Room, Err: rg.Err}
	}
	rs := RoomSync{
		Room:      rg.Room,
		LastSeen:  rg.LastSeen,
		Head:      rg.Head,
		Unread:    rg.Unread(),
		From:      rg.LastSeen + 1,
		To:        to,
		Complete:  to >= rg.Head,
		Truncated: rg.Truncated,
		Oldest:    rg.Oldest,
	}
	if !rs.Complete {
		rs.Next = to
	}
	return rs
}

// MaxSyncMessages bounds the messages of one Sync answer over all rooms, so
// a user in many busy rooms cannot make one response huge. Rooms past the
// budget (or past the answer's byte bound, Service.MaxAnswerBytes) get an
// empty first page with Complete false and Next = LastSeen; the client
// continues with them like with any incomplete room.
const MaxSyncMessages = 5 * tripsense.MaxPageLimit

// Sync returns, for every room of user sorted by id, the first page (at
// most limit messages; 0 means tripsense.DefaultPageLimit) of its missed
// range (lastSeen, head], within MaxSyncMessages messages and
// Service.MaxAnswerBytes bytes of message JSON in total. A room whose page
// the byte bound cut short has Complete false and Next where it stopped; the
// first message of the answer is always included. cursors holds the
// client's own cursors, which win over the stored delivered cursors of
// device (tripsense.DefaultDevice for a client that names none); it may be
// nil. A room of cursors the user is not in does not fail the call: its entry
// carries Err (ENOTMEMBER). Errors: EINVALID (bad limit, ids or cursors).
//
// Sync holds the whole answer; WriteSync streams the same answer.
func (s *Service) Sync(ctx context.Context, user, device string, cursors map[string]int64, limit int) ([]RoomSync, error) {
	plan, limit, err := s.planSync(ctx, user, device, cursors, limit)
	if err != nil {
		return nil, err
	}
	c := &collectSync{out: make([]RoomSync, 0, len(plan))}
	if err := s.syncRooms(ctx, plan, limit, c); err != nil {
		return nil, err
	}
	return c.out, nil
}

// WriteSync writes the JSON of the Sync answer, {"rooms":[RoomSync...]}
// (after "epoch" when Service.Epoch is set)
// and a newline, to w as it reads the pages: it holds at most one chunk of
// messages read ahead and a 32 KiB buffer, never the whole answer.
//
// The errors of Sync (a bad request, a non-member, a store failure while
// planning) come before anything is written to w. A store failure while
// reading the pages comes before anything is written too unless the answer
// already passed 32 KiB; then w holds a truncated answer, and the caller
// must not present it as complete. An error of w itself is returned as it is.
func (s *Service) WriteSync(ctx context.Context, w io.Writer, user, device string, cursors map[string]int64, limit int) error {
	plan, limit, err := s.planSync(ctx, user, device, cursors, limit)
	if err != nil {
		return err
	}
	j := newJSONWriter(w)
	defer j.free()
	if s.Epoch != "" {
		j.buf = append(j.buf, `{"epoch":`...)
		j.buf = strconv.AppendQuote(j.buf, s.Epoch)
		j.buf = append(j.buf, `,"rooms":[`...)
	} else {
		j.buf = append(j.buf, `{"rooms":[`...)
	}
	if err := s.syncRooms(ctx, plan, limit, &streamSync{j: j}); err != nil {
		return err
	}
	j.buf = append(j.buf, "]}\n"...)
	return j.flush()
}

func (s *Service) planSync(ctx context.Context, user, device string, cursors map[string]int64, limit int) ([]Range, int, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, 0, err
	}
	plan, err := s.Plan(ctx, user, device, cursors)
	if err != nil {
		return nil, 0, err
	}
	return plan, limit, nil
}

// syncSink receives a Sync answer as it is read: room, its messages, then
// roomEnd with every field of the room but Messages. A room that failed
// alone (Range.Err) gets roomEnd only.
type syncSink interface {
	room(rg Range) error
	message(m *tripsense.Message, enc []byte) error
	roomEnd(rs *RoomSync) error
}

// syncRooms reads the first page of every range of plan into sk, within
// one answer's budget.
func (s *Service) syncRooms(ctx context.Context, plan []Range, limit int, sk syncSink) error {
	r := s.newReader(MaxSyncMessages)
	defer r.free()
	for _, rg := range plan {
		if rg.Err != nil {
			rs := newRoomSync(rg, 0)
			if err := sk.roomEnd(&rs); err != nil {
				return err
			}
			continue
		}
		if err := sk.room(rg); err != nil {
			return err
		}
		to, err := r.ascend(ctx, rg.Room, rg.LastSeen, rg.Head, limit, sk.message)
		if err != nil {
			return err
		}
		rs := newRoomSync(rg, to)
		if err := sk.roomEnd(&rs); err != nil {
			return err
		}
	}
	return nil
}

// collectSync keeps the answer as []RoomSync.
type collectSync struct {
	out  []RoomSync
	msgs []tripsense.Message
}

func (c *collectSync) room(Range) error { c.msgs = nil; return nil }

func (c *collectSync) message(m *tripsense.Message, _ []byte) error {
	c.msgs = append(c.msgs, *m)
	return nil
}

func (c *collectSync) roomEnd(rs *RoomSync) error {
	if rs.Err == nil {
		rs.Messages = c.msgs
	}
	c.msgs = nil
	c.out = append(c.out, *rs)
	return nil
}

// streamSync writes the answer's JSON as it comes.
type streamSync struct {
	j     *jsonWriter
	rooms int
	msgs  int // messages of the current room
}

func (st *streamSync) room(rg Range) error {
	if st.rooms > 0 {
		st.j.buf = append(st.j.buf, ',')
	}
	st.rooms++
	st.msgs = 0
	st.j.buf = appendRoomHead(st.j.buf, rg.Room, rg.LastSeen, rg.Head, rg.Unread(), rg.LastSeen+1, rg.Truncated, rg.Oldest)
	return st.j.err
}

func (st *streamSync) message(_ *tripsense.Message, enc []byte) error {
	if st.msgs > 0 {
		st.j.buf = append(st.j.buf, ',')
	}
	st.msgs++
	return st.j.write(enc)
}

func (st *streamSync) roomEnd(rs *RoomSync) error {
	if rs.Err != nil {
		if st.rooms > 0 {
			st.j.buf = append(st.j.buf, ',')
		}
		st.rooms++
		st.j.buf = appendRoomError(st.j.buf, rs)
		return st.j.maybeFlush()
	}
	st.j.buf = appendRoomTail(st.j.buf, rs)
	return st.j.maybeFlush()
}

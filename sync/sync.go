package catchup

import (
	"context"

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
}

// newRoomSync builds the RoomSync of rg from its first page msgs.
func newRoomSync(rg Range, msgs []tripsense.Message) RoomSync {
	to := rg.LastSeen
	if len(msgs) > 0 {
		to = msgs[len(msgs)-1].Index
	}
	rs := RoomSync{
		Room:     rg.Room,
		LastSeen: rg.LastSeen,
		Head:     rg.Head,
		Unread:   rg.Unread(),
		From:     rg.LastSeen + 1,
		To:       to,
		Messages: msgs,
		Complete: to >= rg.Head,
	}
	if !rs.Complete {
		rs.Next = to
	}
	return rs
}

// MaxSyncMessages bounds the messages of one Sync answer over all rooms, so
// a user in many busy rooms cannot make one response huge. Rooms past the
// budget get an empty first page with Complete false and Next = LastSeen;
// the client continues with them like with any incomplete room.
const MaxSyncMessages = 5 * tripsense.MaxPageLimit

// Sync returns, for every room of user sorted by id, the first page (at
// most limit messages; 0 means tripsense.DefaultPageLimit) of its missed
// range (lastSeen, head], within MaxSyncMessages in total. cursors holds the
// client's own cursors, which win over the stored ones of device; it may be
// nil. Errors: EINVALID (bad limit, ids or cursors), ENOTMEMBER when
// cursors names a room user is not in.
func (s *Service) Sync(ctx context.Context, user, device string, cursors map[string]int64, limit int) ([]RoomSync, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	plan, err := s.Plan(ctx, user, device, cursors)
	if err != nil {
		return nil, err
	}
	out := make([]RoomSync, len(plan))
	budget := MaxSyncMessages
	for i, rg := range plan {
		var msgs []tripsense.Message
		if n := min(limit, budget); n > 0 {
			if msgs, err = s.page(ctx, rg.Room, rg.LastSeen, rg.Head, n); err != nil {
				return nil, err
			}
			budget -= len(msgs)
		}
		out[i] = newRoomSync(rg, msgs)
	}
	return out, nil
}

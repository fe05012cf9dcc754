package ws

import (
	"context"
	"fmt"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

// Catchup plans catch-ups; *catchup.Service (sync/) implements it. The
// rule "the client's own cursors win over stored ones, clamped to the head"
// lives there, once, for both the HTTP API and the WebSocket sync action.
type Catchup interface {
	// Plan returns the missed range of every room of user from the stored
	// cursors of device, or clientCursors where given. A cursor for a room
	// the user is not in gives ENOTMEMBER.
	Plan(ctx context.Context, user, device string, clientCursors map[string]int64) ([]catchup.Range, error)
}

// syncPageSize is how many messages the sync action reads per store call.
const syncPageSize = 200

// sync pushes the missed messages of every room of the user, from the
// stored cursors of the connection's device unless the frame gives cursors,
// as message frames, in index order, each room followed by a synced frame. One sync
// pushes at most catchup.MaxSyncMessages messages, like one GET /v1/sync:
// rooms it could not finish get {"type":"synced","complete":false,"next":N}
// and the client sends sync again (with its cursors). Each message that
// reaches the connection counts toward its delivery watermark, so a sync
// followed by a disconnect advances the stored cursors.
func (s *Service) sync(ctx context.Context, c Conn, f *inFrame) error {
	if err := checkUser(c, f); err != nil {
		return err
	}
	plan, err := s.Catchup.Plan(ctx, c.UserID, c.DeviceID, f.Cursors)
	if err != nil {
		return err
	}
	budget := catchup.MaxSyncMessages
	buf := make([]byte, 0, 4096)
	for _, r := range plan {
		// The client's cursor is its word that it has everything up to it,
		// as with markRead: the connection's watermark starts there, so what
		// this sync delivers counts on disconnect.
		if err := s.Presence.SeenThrough(ctx, c.ID, r.Room, r.LastSeen); err != nil && tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
			return fmt.Errorf("sync %s: %w", r.Room, err)
		}
		after := r.LastSeen
		for after < r.Head && budget > 0 {
			msgs, err := s.Store.MessagesAfter(ctx, r.Room, after, min(syncPageSize, int(r.Head-after), budget))
			if err != nil {
				return fmt.Errorf("sync %s: %w", r.Room, err)
			}
			if len(msgs) == 0 || msgs[0].Index <= after {
				return fmt.Errorf("sync %s: store made no progress after %d (head %d)", r.Room, after, r.Head)
			}
			for i := range msgs {
				if msgs[i].Index > r.Head {
					break
				}
				buf = msgs[i].AppendJSON(buf[:0], "message")
				out := tripsense.Outbound{Data: append([]byte(nil), buf...), Room: msgs[i].Room, Index: msgs[i].Index, Wait: true}
				if err := s.Pusher.Push(ctx, c.ID, out); err != nil {
					return err
				}
				after = msgs[i].Index
				budget--
			}
		}
		if err := s.Pusher.Push(ctx, c.ID, tripsense.Outbound{Data: syncedFrame(r.Room, r.Head, after), Wait: true}); err != nil {
			return err
		}
	}
	return nil
}

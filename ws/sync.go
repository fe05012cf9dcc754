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
	// Plan returns the missed range of every room of user. A cursor for a
	// room the user is not in gives ENOTMEMBER.
	Plan(ctx context.Context, user string, clientCursors map[string]int64) ([]catchup.Range, error)
}

// syncPageSize is how many messages the sync action reads per store call.
const syncPageSize = 200

// sync pushes every missed message of every room of the user as message
// frames, in index order, then one synced frame per room. Each message that
// reaches the connection counts toward its delivery watermark, so a sync
// followed by a disconnect advances the stored cursors.
func (s *Service) sync(ctx context.Context, c Conn, f *inFrame) error {
	if err := checkUser(c, f); err != nil {
		return err
	}
	plan, err := s.Catchup.Plan(ctx, c.UserID, f.Cursors)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 4096)
	for _, r := range plan {
		after := r.LastSeen
		for after < r.Head {
			msgs, err := s.Store.MessagesAfter(ctx, r.Room, after, min(syncPageSize, int(r.Head-after)))
			if err != nil {
				return fmt.Errorf("sync %s: %w", r.Room, err)
			}
			if len(msgs) == 0 {
				break
			}
			for i := range msgs {
				buf = msgs[i].AppendJSON(buf[:0], "message")
				out := tripsense.Outbound{Data: append([]byte(nil), buf...), Room: msgs[i].Room, Index: msgs[i].Index, Wait: true}
				if err := s.Pusher.Push(ctx, c.ID, out); err != nil {
					return err
				}
			}
			after = msgs[len(msgs)-1].Index
		}
		if err := s.reply(ctx, c, syncedFrame(r.Room, r.Head)); err != nil {
			return err
		}
	}
	return nil
}

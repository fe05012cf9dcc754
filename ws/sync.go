package ws

import (
	"context"
	"fmt"
	"time"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

// Catchup plans catch-ups; *catchup.Service (sync/) implements it. The
// rule "the client's own cursors win over stored ones, clamped to the head"
// lives there, once, for both the HTTP API and the WebSocket sync action.
type Catchup interface {
	// Plan returns the missed range of every room of user from the stored
	// delivered cursors of device, or clientCursors where given. A cursor
	// for a room the user is not in gives that room a Range with Err
	// ENOTMEMBER.
	Plan(ctx context.Context, user, device string, clientCursors map[string]int64) ([]catchup.Range, error)
	// MarkRead advances the read cursor of (user, room), checking
	// membership, and reports whether it moved.
	MarkRead(ctx context.Context, user, room string, index int64) (tripsense.ReadCursor, bool, error)
}

// syncPageSize is how many messages the sync action reads per store call.
const syncPageSize = 200

// DefaultSyncFrameBytes bounds one messages frame of a sync (Service.
// SyncFrameBytes): API Gateway's WebSocket frame size, so that no gateway
// has to split a frame, and well under its 128 KB post limit.
const DefaultSyncFrameBytes = 32 << 10

// sync pushes the missed messages of every room of the user, from the
// stored delivered cursors of the connection's device unless the frame
// gives cursors, in index order, room by room, batched into messages frames
// ({"type":"messages","chatroomId":..,"messages":[..]}, each at most
// SyncFrameBytes unless one message alone is larger), each room followed by
// a synced frame. One sync pushes at most catchup.MaxSyncMessages messages,
// like one GET /v1/sync, and stops early when ctx's deadline comes near
// (SyncMargin): rooms it could not finish get
// {"type":"synced","complete":false,"next":N} and the client sends sync
// again (with its cursors). A room the client named but is not a member of
// gets a synced frame with "error" and does not stop the others. After the
// last synced frame comes exactly one {"type":"syncDone"}. Each batch that
// reaches the connection counts toward its delivery watermark with one
// report (Outbound.Through), so a sync followed by a disconnect advances the
// stored (delivered) cursors of the connection's device.
func (s *Service) sync(ctx context.Context, c Conn, f *inFrame) error {
	if err := checkUser(c, f); err != nil {
		return err
	}
	plan, err := s.Catchup.Plan(ctx, c.UserID, c.DeviceID, f.Cursors)
	if err != nil {
		return err
	}
	late := s.syncDeadline(ctx)
	frameBytes := s.SyncFrameBytes
	if frameBytes <= 0 {
		frameBytes = DefaultSyncFrameBytes
	}
	budget := catchup.MaxSyncMessages
	stopped := false // the deadline came near: finish with synced frames only
	var buf []byte
	for _, r := range plan {
		if r.Err != nil {
			if err := s.Pusher.Push(ctx, c.ID, tripsense.Outbound{Data: syncedErrorFrame(r.Room, r.Err), Wait: true}); err != nil {
				return err
			}
			continue
		}
		after := r.LastSeen
		if !stopped && after < r.Head && late() {
			stopped = true
		}
		if !stopped {
			// The client's cursor is its word that it has everything up to
			// it, as with markRead: the connection's watermark starts there,
			// so what this sync delivers counts on disconnect.
			if err := s.Presence.SeenThrough(ctx, c.ID, r.Room, r.LastSeen); err != nil && tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
				return fmt.Errorf("sync %s: %w", r.Room, err)
			}
		}
	pages:
		for !stopped && after < r.Head && budget > 0 {
			msgs, err := s.Store.MessagesAfter(ctx, r.Room, after, min(syncPageSize, int(r.Head-after), budget))
			if err != nil {
				return fmt.Errorf("sync %s: %w", r.Room, err)
			}
			if len(msgs) == 0 || msgs[0].Index <= after {
				return fmt.Errorf("sync %s: store made no progress after %d (head %d)", r.Room, after, r.Head)
			}
			for i := 0; i < len(msgs) && msgs[i].Index <= r.Head; {
				if late() {
					stopped = true
					break pages
				}
				var n int
				buf, n = appendBatch(buf[:0], r.Room, msgs[i:], r.Head, frameBytes)
				last := msgs[i+n-1].Index
				out := tripsense.Outbound{Data: append([]byte(nil), buf...), Room: r.Room, Index: last, Through: true, Wait: true}
				if err := s.Pusher.Push(ctx, c.ID, out); err != nil {
					return err
				}
				after = last
				budget -= n
				i += n
			}
			if msgs[0].Index > r.Head {
				return fmt.Errorf("sync %s: store returned %d after %d, above head %d", r.Room, msgs[0].Index, after, r.Head)
			}
		}
		if err := s.Pusher.Push(ctx, c.ID, tripsense.Outbound{Data: truncatedFrame(syncedFrame(r.Room, r.Head, after), r), Wait: true}); err != nil {
			return err
		}
	}
	return s.Pusher.Push(ctx, c.ID, tripsense.Outbound{Data: s.syncDoneFrame(), Wait: true})
}

// syncDeadline returns a test of whether the sync must stop: when less than
// SyncMargin is left before ctx's deadline (by default a quarter of the time
// that was left when the sync started). Without a deadline it never stops.
func (s *Service) syncDeadline(ctx context.Context) func() bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return func() bool { return false }
	}
	margin := s.SyncMargin
	if margin <= 0 {
		margin = time.Until(deadline) / 4
	}
	return func() bool { return time.Until(deadline) < margin }
}

// appendBatch appends one messages frame of room to dst holding msgs from
// the first on, up to head, as many as fit in limit bytes (at least one),
// and returns the frame and how many messages it holds.
func appendBatch(dst []byte, room string, msgs []tripsense.Message, head int64, limit int) ([]byte, int) {
	dst = append(dst, `{"type":"messages","chatroomId":`...)
	dst = tripsense.AppendJSONString(dst, room)
	dst = append(dst, `,"messages":[`...)
	n := 0
	for n < len(msgs) && msgs[n].Index <= head {
		mark := len(dst)
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = msgs[n].AppendJSON(dst, "")
		if n > 0 && len(dst)+2 > limit {
			dst = dst[:mark]
			break
		}
		n++
	}
	return append(dst, ']', '}'), n
}

package ws

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tripsense/tripsense"
)

// DefaultReceiptInterval is the default coalescing interval of receipt
// frames in a long-running process (Service.ReceiptInterval).
const DefaultReceiptInterval = time.Second

// receiptPushTimeout bounds the pushes of one deferred receipt flush.
const receiptPushTimeout = 10 * time.Second

// MarkRead advances user's read cursor (lastRead) in room to index, never
// backwards and never past the head, and, when it moved, tells the room's
// online connections with a receipt frame (coalesced, see
// Service.ReceiptInterval). It serves PUT /v1/rooms/{room}/cursor; the
// markRead frame runs it too. Errors: EINVALID, ENOTMEMBER.
func (s *Service) MarkRead(ctx context.Context, user, room string, index int64) (tripsense.ReadCursor, error) {
	return s.markReadFrom(ctx, user, room, index, "")
}

func (s *Service) markReadFrom(ctx context.Context, user, room string, index int64, fromConn string) (tripsense.ReadCursor, error) {
	cur, moved, err := s.Catchup.MarkRead(ctx, user, room, index)
	if err != nil {
		return tripsense.ReadCursor{}, err
	}
	if moved {
		s.receipt(ctx, cur, fromConn)
	}
	return cur, nil
}

// Receipts are coalesced per room: the first move of a read cursor in a
// room is pushed at once, and opens a window of ReceiptInterval during
// which further moves in that room (of any member) are only remembered,
// the latest value per user winning. When the window ends, the remembered
// receipts are pushed, one per user, and a new window opens; a window with
// nothing to push closes. So a room's members receive at most one receipt
// per reader per interval, never a stale one last, and a quiet room's
// first receipt is not delayed. The reader's own other connections get it
// too (their unread counts follow); the connection that marked it read
// already has its cursor frame.
type receiptWindows struct {
	mu    sync.Mutex
	rooms map[string]*receiptWindow
}

type receiptWindow struct {
	pending map[string]pendingReceipt // user -> latest move in the window
}

type pendingReceipt struct {
	lastRead int64
	skip     string // the connection that moved it
}

func (s *Service) receiptInterval() time.Duration {
	switch {
	case s.ReceiptInterval < 0:
		return 0
	case s.ReceiptInterval == 0:
		return DefaultReceiptInterval
	}
	return s.ReceiptInterval
}

func (s *Service) after(d time.Duration, f func()) {
	if s.afterFunc != nil {
		s.afterFunc(d, f)
		return
	}
	time.AfterFunc(d, f)
}

// receipt pushes (or defers, inside a room's window) the receipt of cur.
func (s *Service) receipt(ctx context.Context, cur tripsense.ReadCursor, fromConn string) {
	interval := s.receiptInterval()
	if interval == 0 {
		s.pushReceipt(ctx, cur.Room, cur.UserID, cur.LastRead, fromConn)
		return
	}
	w := &s.receipts
	w.mu.Lock()
	if w.rooms == nil {
		w.rooms = make(map[string]*receiptWindow)
	}
	if win := w.rooms[cur.Room]; win != nil {
		if p, ok := win.pending[cur.UserID]; !ok || p.lastRead < cur.LastRead {
			win.pending[cur.UserID] = pendingReceipt{lastRead: cur.LastRead, skip: fromConn}
		}
		w.mu.Unlock()
		return
	}
	w.rooms[cur.Room] = &receiptWindow{pending: make(map[string]pendingReceipt)}
	w.mu.Unlock()
	s.after(interval, func() { s.flushReceipts(cur.Room, interval) })
	s.pushReceipt(ctx, cur.Room, cur.UserID, cur.LastRead, fromConn)
}

// flushReceipts ends room's window: it pushes what the window collected
// and opens the next one, or closes the window when nothing came.
func (s *Service) flushReceipts(room string, interval time.Duration) {
	w := &s.receipts
	w.mu.Lock()
	win := w.rooms[room]
	if win == nil || len(win.pending) == 0 {
		delete(w.rooms, room)
		w.mu.Unlock()
		return
	}
	pending := win.pending
	win.pending = make(map[string]pendingReceipt)
	w.mu.Unlock()
	s.after(interval, func() { s.flushReceipts(room, interval) })
	ctx, cancel := context.WithTimeout(context.Background(), receiptPushTimeout)
	defer cancel()
	for user, p := range pending {
		s.pushReceipt(ctx, room, user, p.lastRead, p.skip)
	}
}

func (s *Service) pushReceipt(ctx context.Context, room, user string, lastRead int64, skip string) {
	s.pushRoom(ctx, room, skip, receiptFrame(room, user, lastRead))
}

// pushRoom pushes a frame that carries no message (receipt, member) to
// every online connection of room but skip. A connection that is gone is
// disconnected; other failures are logged: these frames are hints a
// client can also get from GET /v1/rooms and .../receipts.
func (s *Service) pushRoom(ctx context.Context, room, skip string, data []byte) {
	members, err := s.Presence.RoomConnections(ctx, room)
	if err != nil {
		s.log().Warn("room connections", "room", room, "err", err)
		return
	}
	for _, m := range members {
		if m.ConnID != skip {
			s.pushConn(ctx, m.ConnID, data)
		}
	}
}

func (s *Service) pushConn(ctx context.Context, conn string, data []byte) {
	err := s.Pusher.Push(ctx, conn, tripsense.Outbound{Data: data})
	switch {
	case err == nil:
	case tripsense.ErrorCode(err) == tripsense.EGONE:
		if derr := s.Disconnect(ctx, conn); derr != nil {
			s.log().Warn("disconnect gone connection", "conn", conn, "err", derr)
		}
	default:
		s.log().Warn("push failed", "conn", conn, "err", fmt.Errorf("push: %w", err))
	}
}

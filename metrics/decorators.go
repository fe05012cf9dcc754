package metrics

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
)

// actions are the frame actions counted by name, every action ws.Service's
// Handle dispatches; anything else is "other". The metrics test checks
// the list against the WebSocket contract (docs/protocol.schema.json).
var actions = []string{"sendMessage", "editMessage", "deleteMessage", "react", "markRead", "sync", "ping", "auth", "other"}

// frameTypes are the frame types counted by name, every type of the
// contract's server frames; anything else is "other".
var frameTypes = []string{"message", "edit", "delete", "reaction", "member", "rename", "messages", "ack", "pong", "error",
	"cursor", "receipt", "synced", "syncDone", "authed", "closing", "other"}

func known(list []string, s string) string {
	for _, k := range list {
		if k == s {
			return k
		}
	}
	return "other"
}

// FrameIn implements ws.Observer: one frame of action arrived.
func (m *Metrics) FrameIn(action string) {
	m.framesInBy[known(actions, action)].Inc()
}

// SendAnswered implements ws.SendObserver: a pipelined send was answered
// d after its frame was read.
func (m *Metrics) SendAnswered(d time.Duration) {
	m.sendAnswerSeconds.Observe(seconds(d))
}

var (
	_ ws.Observer     = (*Metrics)(nil)
	_ ws.SendObserver = (*Metrics)(nil)
)

// countStoreErr counts a failed store call.
func (m *Metrics) countStoreErr(op string, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	switch tripsense.ErrorCode(err) {
	case tripsense.EINVALID, tripsense.ENOTFOUND, tripsense.ENOTMEMBER, tripsense.ETOOLARGE:
		return // the caller's mistake, answered as such
	}
	m.storeErrors.WithLabelValues(op).Inc()
}

// Store returns st with its sends timed and its errors counted. Methods it
// does not override pass through the embedded Store unchanged. When st is
// a ws.QueuedAppender (store/bolt) the result is one too, so that the
// pipelined sends of ws.Pipeline still overlap their commits behind the
// decorator, and they are counted like Append's.
func (m *Metrics) Store(st tripsense.Store) tripsense.Store {
	base := store{Store: st, m: m}
	if qa, ok := st.(ws.QueuedAppender); ok {
		return &queuedStore{store: base, qa: qa}
	}
	return &base
}

type store struct {
	tripsense.Store
	m *Metrics
}

func (s *store) Append(ctx context.Context, nm tripsense.NewMessage) (tripsense.Message, bool, error) {
	start := time.Now()
	msg, dup, err := s.Store.Append(ctx, nm)
	s.countSend(start, dup, err)
	return msg, dup, err
}

// queuedStore is the decorator of a ws.QueuedAppender.
type queuedStore struct {
	store
	qa ws.QueuedAppender
}

// AppendQueued implements ws.QueuedAppender: the send is counted when its
// result is first taken, and its latency runs from the queueing to then.
func (s *queuedStore) AppendQueued(ctx context.Context, nm tripsense.NewMessage) tripsense.QueuedAppend {
	return &countedAppend{QueuedAppend: s.qa.AppendQueued(ctx, nm), s: &s.store, start: time.Now()}
}

// countedAppend is a QueuedAppend whose first Result is counted. It keeps
// no copy of the result: Result returns what the store's returns, every
// time.
type countedAppend struct {
	tripsense.QueuedAppend
	s       *store
	start   time.Time
	counted atomic.Bool
}

func (c *countedAppend) Result() (tripsense.Message, bool, error) {
	msg, dup, err := c.QueuedAppend.Result()
	if c.counted.CompareAndSwap(false, true) {
		c.s.countSend(c.start, dup, err)
	}
	return msg, dup, err
}

// countSend counts one Append's outcome (and times a stored one).
func (s *store) countSend(start time.Time, dup bool, err error) {
	switch {
	case err != nil:
		s.m.sendsError.Inc()
		s.m.countStoreErr("append", err)
	case dup:
		s.m.sendsDuplicate.Inc()
	default:
		s.m.sendsStored.Inc()
		s.m.appendSeconds.Observe(seconds(time.Since(start)))
	}
}

func (s *store) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error) {
	msgs, err := s.Store.MessagesAfter(ctx, room, after, limit)
	s.m.countStoreErr("messages_after", err)
	return msgs, err
}

func (s *store) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, error) {
	msgs, err := s.Store.MessagesBefore(ctx, room, before, limit)
	s.m.countStoreErr("messages_before", err)
	return msgs, err
}

func (s *store) Head(ctx context.Context, room string) (int64, error) {
	h, err := s.Store.Head(ctx, room)
	s.m.countStoreErr("head", err)
	return h, err
}

func (s *store) IsMember(ctx context.Context, user, room string) (bool, error) {
	ok, err := s.Store.IsMember(ctx, user, room)
	s.m.countStoreErr("is_member", err)
	return ok, err
}

func (s *store) Rooms(ctx context.Context, user string) ([]string, error) {
	rooms, err := s.Store.Rooms(ctx, user)
	s.m.countStoreErr("rooms", err)
	return rooms, err
}

func (s *store) Cursors(ctx context.Context, user, device string) ([]tripsense.Cursor, error) {
	cs, err := s.Store.Cursors(ctx, user, device)
	s.m.countStoreErr("cursors", err)
	return cs, err
}

func (s *store) AdvanceCursor(ctx context.Context, user, device, room string, lastSeen int64) (tripsense.Cursor, error) {
	c, err := s.Store.AdvanceCursor(ctx, user, device, room, lastSeen)
	s.m.countStoreErr("advance_cursor", err)
	return c, err
}

func (s *store) AdvanceReadCursor(ctx context.Context, user, room string, lastRead int64) (tripsense.ReadCursor, bool, error) {
	c, moved, err := s.Store.AdvanceReadCursor(ctx, user, room, lastRead)
	s.m.countStoreErr("advance_read_cursor", err)
	return c, moved, err
}

// Pusher returns p with frames out counted by type and pushes timed. When
// p is a ws.Broadcaster the result is one too, and a broadcast counts one
// message frame per recipient when p can say how many connections a room
// has (RoomSize), else one.
func (m *Metrics) Pusher(p tripsense.Pusher) tripsense.Pusher {
	base := pusher{Pusher: p, m: m}
	if b, ok := p.(ws.Broadcaster); ok {
		rs, _ := p.(roomSizer)
		bc := broadcaster{pusher: base, b: b, rs: rs}
		if bb, ok := p.(ws.BatchBroadcaster); ok {
			// Kept a BatchBroadcaster, so that a run of a room's messages
			// still reaches each connection in one push (one write).
			return &batchBroadcaster{broadcaster: bc, bb: bb}
		}
		return &bc
	}
	return &base
}

// roomSizer is what the local hub says about a room's size, cheaply.
type roomSizer interface {
	RoomSize(room string) int
}

type pusher struct {
	tripsense.Pusher
	m *Metrics
}

func (p *pusher) Push(ctx context.Context, id string, out tripsense.Outbound) error {
	start := time.Now()
	err := p.Pusher.Push(ctx, id, out)
	p.m.pushSeconds.Observe(seconds(time.Since(start)))
	switch {
	case err == nil:
		p.m.pushes.WithLabelValues("ok").Inc()
		p.m.framesOutBy[frameType(out.Data)].Inc()
	case errors.Is(err, tripsense.ErrGone) || tripsense.ErrorCode(err) == tripsense.EGONE:
		p.m.pushes.WithLabelValues("gone").Inc()
	default:
		p.m.pushes.WithLabelValues("error").Inc()
	}
	return err
}

type broadcaster struct {
	pusher
	b  ws.Broadcaster
	rs roomSizer
}

func (b *broadcaster) Broadcast(ctx context.Context, room, skip string, out tripsense.Outbound) []string {
	n := 1
	if b.rs != nil {
		n = b.rs.RoomSize(room)
		if skip != "" && n > 0 {
			n-- // the sender's connection, skipped (an approximation when it left)
		}
	}
	start := time.Now()
	gone := b.b.Broadcast(ctx, room, skip, out)
	b.m.fanoutSeconds.Observe(seconds(time.Since(start)))
	if n -= len(gone); n > 0 {
		b.m.framesOutBy[frameType(out.Data)].Add(float64(n))
	}
	return gone
}

type batchBroadcaster struct {
	broadcaster
	bb ws.BatchBroadcaster
}

// BroadcastBatch implements ws.BatchBroadcaster: one fan-out timed, and
// each frame counted once per recipient but its sender (when the room's
// size is known, else once).
func (b *batchBroadcaster) BroadcastBatch(ctx context.Context, room string, outs []tripsense.Outbound, senders []string) {
	start := time.Now()
	b.bb.BroadcastBatch(ctx, room, outs, senders)
	b.m.fanoutSeconds.Observe(seconds(time.Since(start)))
	n := 1
	if b.rs != nil {
		if n = b.rs.RoomSize(room) - 1; n < 0 {
			n = 0
		}
	}
	for i := range outs {
		if n > 0 {
			b.m.framesOutBy[frameType(outs[i].Data)].Add(float64(n))
		}
	}
}

// frameType reads a frame's "type" (frames start with it, so this is a
// look at the first bytes).
func frameType(data []byte) string {
	if t, ok := tripsense.JSONStringMemberIn(data, "type", frameTypes); ok {
		return t
	}
	return "other"
}

// Limiter returns l with its refusals counted by budget.
func (m *Metrics) Limiter(l ws.Limiter) ws.Limiter { return &limiter{l: l, m: m} }

type limiter struct {
	l ws.Limiter
	m *Metrics
}

func (l *limiter) Allow(connID string, b ws.Budget) (bool, time.Duration) {
	ok, wait := l.l.Allow(connID, b)
	if !ok {
		name := "control"
		if b == ws.BudgetSend {
			name = "send"
		}
		l.m.rateLimited.WithLabelValues(name).Inc()
	}
	return ok, wait
}

// HTTPRateLimited counts a refusal of the per-IP HTTP rate limit.
func (m *Metrics) HTTPRateLimited() { m.rateLimited.WithLabelValues("http").Inc() }

// ConnectRateLimited counts a WebSocket upgrade refused over the per-IP
// connect rate (--connect-rate).
func (m *Metrics) ConnectRateLimited() { m.rateLimited.WithLabelValues("connect").Inc() }

// SyncService is the HTTP catch-up (api.SyncService, which it matches
// method for method).
type SyncService interface {
	WriteSync(ctx context.Context, w io.Writer, user, device string, cursors map[string]int64, limit int) error
	WriteHistory(ctx context.Context, w io.Writer, user, room string, after, before int64, limit int) error
	Rooms(ctx context.Context, user string) ([]catchup.RoomSummary, error)
	Receipts(ctx context.Context, user, room string) ([]tripsense.ReadCursor, error)
}

// Catchup returns s with the size and duration of its streamed answers
// recorded (catchup_bytes, catchup_seconds by kind).
func (m *Metrics) Catchup(s SyncService) SyncService { return &syncService{SyncService: s, m: m} }

type syncService struct {
	SyncService
	m *Metrics
}

func (s *syncService) WriteSync(ctx context.Context, w io.Writer, user, device string, cursors map[string]int64, limit int) error {
	return s.m.timeCatchup("sync", w, func(w io.Writer) error { return s.SyncService.WriteSync(ctx, w, user, device, cursors, limit) })
}

func (s *syncService) WriteHistory(ctx context.Context, w io.Writer, user, room string, after, before int64, limit int) error {
	return s.m.timeCatchup("history", w, func(w io.Writer) error {
		return s.SyncService.WriteHistory(ctx, w, user, room, after, before, limit)
	})
}

// ObserveCatchup records one catch-up answer of kind ("sync" or
// "history"): its size in bytes and how long it took.
func (m *Metrics) ObserveCatchup(kind string, bytes int64, d time.Duration) {
	m.catchupBytes.WithLabelValues(kind).Observe(float64(bytes))
	m.catchupSeconds.WithLabelValues(kind).Observe(seconds(d))
}

// ObserveStoreCommit records the duration of one commit of the single
// binary's store (store/bolt's commit observer).
func (m *Metrics) ObserveStoreCommit(d time.Duration) {
	m.commitSeconds.Observe(seconds(d))
}

// ObserveStoreCheckpoint records the duration of one checkpoint of the
// single binary's write-ahead log (store/bolt's checkpoint observer).
func (m *Metrics) ObserveStoreCheckpoint(d time.Duration) {
	m.checkpointSeconds.Observe(seconds(d))
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// timeCatchup runs write on w and records its answer as kind when it
// succeeded (a refused request or a client gone is not an answer).
func (m *Metrics) timeCatchup(kind string, w io.Writer, write func(io.Writer) error) error {
	start := time.Now()
	cw := &countingWriter{w: w}
	err := write(cw)
	if err == nil {
		m.ObserveCatchup(kind, cw.n, time.Since(start))
	}
	return err
}

// ObserveHTTP records one HTTP request of route (a fixed name chosen by
// the caller) that ended with code after d. A WebSocket upgrade (route
// "/ws") also counts in ws_upgrades_total: "upgraded" for 101, else the
// refusal's status.
func (m *Metrics) ObserveHTTP(route string, code int, d time.Duration) {
	c := strconv.Itoa(code)
	m.httpRequests.WithLabelValues(route, c).Inc()
	m.httpSeconds.WithLabelValues(route).Observe(seconds(d))
	if route == "/ws" {
		if code == 101 {
			c = "upgraded"
		}
		m.upgrades.WithLabelValues(c).Inc()
	}
}

package local

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// DefaultQueueLimit is how many frames may wait for one connection before
// it is closed as a slow consumer (ws.CloseSlowConsumer).
const DefaultQueueLimit = 1024

// DefaultSyncQueueBytes bounds the bytes a connection's sync may have
// queued or in the writer's batch, not yet written (HubOptions.SyncQueueBytes):
// a sync whose client reads nothing holds about this much, plus one frame.
const DefaultSyncQueueBytes = 1 << 20

// Hub is the in-memory registry of online connections. It implements
// tripsense.Presence and tripsense.Pusher. The zero value is not usable:
// call NewHub. Safe for concurrent use.
type Hub struct {
	queueLimit int
	syncBytes  int
	onWait     func() // tests: a waiting push (a sync) starts to wait
	msgRate    rate.Limit
	msgBurst   int
	ctlRate    rate.Limit
	ctlBurst   int

	// slowCloses counts connections closed as slow consumers (Stats).
	slowCloses atomic.Int64
	// shutdown is closed by CloseAll: connections still waiting for their
	// auth frame (not in the hub yet) close too.
	shutdown     chan struct{}
	shutdownOnce sync.Once

	mu     sync.RWMutex
	conns  map[string]*conn
	byUser map[string]map[*conn]struct{}
	byRoom map[string]map[*conn]struct{}
}

var (
	_ tripsense.Presence  = (*Hub)(nil)
	_ tripsense.Pusher    = (*Hub)(nil)
	_ ws.Limiter          = (*Hub)(nil)
	_ ws.Broadcaster      = (*Hub)(nil)
	_ ws.BatchBroadcaster = (*Hub)(nil)
)

// Allow implements ws.Limiter: the connection's token bucket of budget b,
// one token per frame. When it is empty it reports how long until the next
// token.
func (h *Hub) Allow(id string, b ws.Budget) (bool, time.Duration) {
	c := h.get(id)
	if c == nil {
		return true, 0
	}
	lim := c.sendLimiter
	if b != ws.BudgetSend {
		lim = c.ctlLimiter
	}
	if lim == nil {
		return true, 0
	}
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Default rate budgets of a connection (HubOptions).
const (
	// DefaultMsgRate and DefaultMsgBurst: a phone back online can flush an
	// outbox of 200 messages at once, then send 20 a second.
	DefaultMsgRate  = 20
	DefaultMsgBurst = 200
	// DefaultControlRate and DefaultControlBurst: sync, ping, markRead and
	// auth, apart from sends.
	DefaultControlRate  = 10
	DefaultControlBurst = 50
)

// HubOptions tunes a Hub. Zero values take the defaults.
type HubOptions struct {
	// QueueLimit is how many frames may wait for one connection
	// (DefaultQueueLimit).
	QueueLimit int
	// SyncQueueBytes bounds the bytes of a sync's frames queued or being
	// written for one connection (DefaultSyncQueueBytes); a sync past it
	// waits for the writer. One frame always fits.
	SyncQueueBytes int
	// MsgRate and MsgBurst are the per-connection sendMessage token bucket
	// (refill per second, size); MsgRate 0 means unlimited.
	MsgRate  float64
	MsgBurst int
	// ControlRate and ControlBurst are the per-connection bucket of every
	// other frame (sync, ping, markRead, auth); ControlRate 0 means
	// unlimited.
	ControlRate  float64
	ControlBurst int
}

// NewHub returns an empty hub.
func NewHub(o HubOptions) *Hub {
	if o.QueueLimit <= 0 {
		o.QueueLimit = DefaultQueueLimit
	}
	if o.SyncQueueBytes <= 0 {
		o.SyncQueueBytes = DefaultSyncQueueBytes
	}
	r, cr := rate.Inf, rate.Inf
	if o.MsgRate > 0 {
		r = rate.Limit(o.MsgRate)
	}
	if o.ControlRate > 0 {
		cr = rate.Limit(o.ControlRate)
	}
	return &Hub{
		queueLimit: o.QueueLimit,
		syncBytes:  o.SyncQueueBytes,
		msgRate:    r,
		msgBurst:   max(o.MsgBurst, 1),
		ctlRate:    cr,
		ctlBurst:   max(o.ControlBurst, 1),
		shutdown:   make(chan struct{}),
		conns:      make(map[string]*conn),
		byUser:     make(map[string]map[*conn]struct{}),
		byRoom:     make(map[string]map[*conn]struct{}),
	}
}

func (h *Hub) get(id string) *conn {
	h.mu.RLock()
	c := h.conns[id]
	h.mu.RUnlock()
	return c
}

func addTo(m map[string]map[*conn]struct{}, key string, c *conn) {
	set := m[key]
	if set == nil {
		set = make(map[*conn]struct{})
		m[key] = set
	}
	set[c] = struct{}{}
}

func removeFrom(m map[string]map[*conn]struct{}, key string, c *conn) {
	if set := m[key]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

// Register implements tripsense.Presence: admit sees the user's
// connections and the new one is added under one lock.
func (h *Hub) Register(_ context.Context, info tripsense.Connection, rooms []string, baseline map[string]int64, admit tripsense.Admission) ([]tripsense.Connection, error) {
	c := newConn(info)
	c.slowCloses = &h.slowCloses
	if h.msgRate != rate.Inf {
		c.sendLimiter = rate.NewLimiter(h.msgRate, h.msgBurst)
	}
	if h.ctlRate != rate.Inf {
		c.ctlLimiter = rate.NewLimiter(h.ctlRate, h.ctlBurst)
	}
	for _, r := range rooms {
		wm := tripsense.NewWatermark(baseline[r])
		c.marks[r] = &wm
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.conns[info.ID]; dup {
		return nil, tripsense.Errorf(tripsense.ECONFLICT, "connection %s already registered", info.ID)
	}
	var replaced []tripsense.Connection
	if admit != nil {
		existing := h.userConnectionsLocked(info.UserID)
		ids, err := admit(existing)
		if err != nil {
			return nil, err
		}
		for _, e := range existing {
			if slices.Contains(ids, e.ID) {
				replaced = append(replaced, e)
			}
		}
	}
	h.conns[info.ID] = c
	addTo(h.byUser, info.UserID, c)
	for _, r := range rooms {
		addTo(h.byRoom, r, c)
	}
	return replaced, nil
}

// Unregister implements tripsense.Presence. It also stops the connection's
// writer; the socket is closed with the code given to Close, if any.
//
// When the writer has a batch out, Unregister first waits (up to
// unregisterWait, and ctx) until the writer has recorded it: a client that
// receives a frame and closes at once may be read by the server before its
// writer got to record that last write, and that frame must count in the
// watermarks returned here (they become the stored cursors).
func (h *Hub) Unregister(ctx context.Context, id string) (tripsense.Connection, map[string]int64, error) {
	h.mu.Lock()
	c := h.conns[id]
	if c == nil {
		h.mu.Unlock()
		return tripsense.Connection{}, nil, tripsense.ErrNotFound
	}
	delete(h.conns, id)
	removeFrom(h.byUser, c.info.UserID, c)
	c.mu.Lock()
	for r := range c.marks {
		removeFrom(h.byRoom, r, c)
	}
	h.mu.Unlock()
	c.closeLocked(CloseCodeRemoved, "connection removed")
	written := c.writtenLocked()
	c.mu.Unlock()
	if written != nil {
		t := time.NewTimer(unregisterWait)
		select {
		case <-written:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	c.mu.Lock()
	marks := make(map[string]int64, len(c.marks))
	for r, wm := range c.marks {
		marks[r] = wm.Level()
	}
	c.mu.Unlock()
	return c.Connection(), marks, nil
}

// Get implements tripsense.Presence.
func (h *Hub) Get(_ context.Context, id string) (tripsense.Connection, error) {
	if c := h.get(id); c != nil {
		return c.Connection(), nil
	}
	return tripsense.Connection{}, tripsense.ErrNotFound
}

// UserConnections implements tripsense.Presence.
func (h *Hub) UserConnections(_ context.Context, user string) ([]tripsense.Connection, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.userConnectionsLocked(user), nil
}

func (h *Hub) userConnectionsLocked(user string) []tripsense.Connection {
	out := make([]tripsense.Connection, 0, len(h.byUser[user]))
	for c := range h.byUser[user] {
		out = append(out, c.Connection())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConnectedAt.Before(out[j].ConnectedAt) })
	return out
}

// RoomConnections implements tripsense.Presence.
func (h *Hub) RoomConnections(_ context.Context, room string) ([]tripsense.Member, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	set := h.byRoom[room]
	out := make([]tripsense.Member, 0, len(set))
	for c := range set {
		out = append(out, tripsense.Member{ConnID: c.info.ID, UserID: c.info.UserID})
	}
	return out, nil
}

// Join implements tripsense.Presence.
func (h *Hub) Join(_ context.Context, user, room string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.byUser[user] {
		c.mu.Lock()
		if _, ok := c.marks[room]; !ok {
			c.marks[room] = new(tripsense.Watermark)
		}
		c.mu.Unlock()
		addTo(h.byRoom, room, c)
	}
	return nil
}

// Leave implements tripsense.Presence.
func (h *Hub) Leave(_ context.Context, user, room string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.byUser[user] {
		c.mu.Lock()
		delete(c.marks, room)
		c.mu.Unlock()
		removeFrom(h.byRoom, room, c)
	}
	return nil
}

// Delivered implements tripsense.Presence.
func (h *Hub) Delivered(_ context.Context, id, room string, index int64) error {
	c := h.get(id)
	if c == nil {
		return tripsense.ErrNotFound
	}
	c.delivered(room, index, false)
	return nil
}

// SeenThrough implements tripsense.Presence.
func (h *Hub) SeenThrough(_ context.Context, id, room string, index int64) error {
	c := h.get(id)
	if c == nil {
		return tripsense.ErrNotFound
	}
	c.mu.Lock()
	if wm := c.marks[room]; wm != nil {
		wm.SeenThrough(index)
	}
	c.mu.Unlock()
	return nil
}

// SetExpiry implements tripsense.Presence: the connection is closed with
// ws.CloseExpired at expiresAt (its token's exp) instead of when its
// previous timer said. The server sets the first one after Connect; an
// auth frame moves it.
func (h *Hub) SetExpiry(_ context.Context, id string, expiresAt time.Time) error {
	return h.withLive(id, func(c *conn) {
		c.expiresAt.Store(expiresAt.UnixNano())
		d := time.Until(expiresAt)
		if c.expiry == nil {
			c.expiry = time.AfterFunc(d, func() {
				c.close(ws.CloseExpired, "token expired; refresh it with an auth frame before exp, or reconnect with a fresh token")
			})
		} else {
			c.expiry.Reset(d)
		}
	})
}

var _ tripsense.AdminRecorder = (*Hub)(nil)

// SetAdmin implements tripsense.AdminRecorder: an auth refresh records the
// new token's admin claim on the live connection, and its next frames run
// with it (the reader's pipeline reads conn.admin for each), as on AWS,
// where every frame reads the connection's record. A revoked admin stops
// moderating without reconnecting.
func (h *Hub) SetAdmin(_ context.Context, id string, admin bool) error {
	return h.withLive(id, func(c *conn) { c.admin.Store(admin) })
}

// withLive runs f with the connection id's lock held, unless it is unknown
// or closing (ErrNotFound).
func (h *Hub) withLive(id string, f func(c *conn)) error {
	c := h.get(id)
	if c == nil {
		return tripsense.ErrNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return tripsense.ErrNotFound
	}
	f(c)
	return nil
}

// Push implements tripsense.Pusher: it queues out for the connection's
// writer and returns at once. A full queue closes the connection with
// ws.CloseSlowConsumer and returns ErrGone, unless out.Wait asks to wait for
// room (bounded by ctx).
func (h *Hub) Push(ctx context.Context, id string, out tripsense.Outbound) error {
	c := h.get(id)
	if c == nil {
		return tripsense.ErrGone
	}
	return c.enqueue(ctx, out, h.limits())
}

func (h *Hub) limits() queueLimits {
	return queueLimits{frames: h.queueLimit, waitBytes: h.syncBytes, onWait: h.onWait}
}

// Broadcast implements ws.Broadcaster: one pass over the room's
// connections under the read lock, queueing out for each but skip. It
// reports no connection as gone: one that is closing (or that a full queue
// closes here) is disconnected by its own Server goroutine once its writer
// has stopped, so the frames it wrote before the close still count; a
// Disconnect from the sender's path would only race that writer (and hold
// up the sender).
func (h *Hub) Broadcast(ctx context.Context, room, skip string, out tripsense.Outbound) (gone []string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.byRoom[room] {
		if c.info.ID == skip {
			continue
		}
		_ = c.enqueue(ctx, out, h.limits())
	}
	return nil
}

// BroadcastBatch implements ws.BatchBroadcaster: one pass over the room's
// connections under the read lock; each connection gets every frame of
// outs but those it sent (senders[i] sent outs[i]) appended to its queue
// at once, so its writer sends them in one write. Like Broadcast it
// reports no connection as gone.
func (h *Hub) BroadcastBatch(ctx context.Context, room string, outs []tripsense.Outbound, senders []string) {
	if len(outs) == 1 {
		h.Broadcast(ctx, room, senders[0], outs[0])
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.byRoom[room] {
		c.enqueueBatch(outs, senders, h.limits())
	}
}

// Close implements tripsense.Pusher.
func (h *Hub) Close(_ context.Context, id string, code int, reason string) error {
	c := h.get(id)
	if c == nil {
		return tripsense.ErrGone
	}
	c.close(code, reason)
	return nil
}

// CloseAll closes every connection with code (graceful shutdown uses 1001),
// and those still waiting for their auth frame.
func (h *Hub) CloseAll(code int, reason string) {
	h.shutdownOnce.Do(func() { close(h.shutdown) })
	h.mu.RLock()
	all := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		all = append(all, c)
	}
	h.mu.RUnlock()
	for _, c := range all {
		c.close(code, reason)
	}
}

// Queued returns how many frames wait in the connection's queue (0 for an
// unknown connection): a gauge for operators and tests.
func (h *Hub) Queued(id string) int {
	c := h.get(id)
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Len returns the number of online connections.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

// RoomSize returns how many online connections receive room: one map
// lookup, for metrics.
func (h *Hub) RoomSize(room string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.byRoom[room])
}

// HubStats is what the hub reports to metrics.
type HubStats struct {
	Connections int // online connections
	Queued      int // frames waiting in all connections' queues
	MaxQueued   int // the longest queue
	// SlowConsumerCloses counts connections closed because their queue
	// was full (ws.CloseSlowConsumer), since NewHub.
	SlowConsumerCloses int64
}

// Stats walks the connections once (metrics call it at scrape time).
func (h *Hub) Stats() HubStats {
	h.mu.RLock()
	all := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		all = append(all, c)
	}
	h.mu.RUnlock()
	st := HubStats{Connections: len(all), SlowConsumerCloses: h.slowCloses.Load()}
	for _, c := range all {
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		st.Queued += n
		st.MaxQueued = max(st.MaxQueued, n)
	}
	return st
}

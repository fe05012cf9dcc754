package ws

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tripsense/tripsense"
)

// DuplicatePolicy says what happens when a user who is online opens another
// connection.
type DuplicatePolicy string

const (
	// Replace is per device: a new connection closes the older connections
	// of the same (user, device) with CloseReplaced, and the new one wins;
	// connections of the user's other devices stay, up to
	// MaxConnectionsPerUser in all. The default: a reconnecting phone is
	// never locked out by its own half-dead connection, and a tablet does
	// not kick the phone off.
	Replace DuplicatePolicy = "replace"
	// Refuse rejects the new connection while any other connection of the
	// user is online, whatever its device (the seed's plan).
	Refuse DuplicatePolicy = "refuse"
	// Allow keeps every connection, several per device too, up to
	// MaxConnectionsPerUser.
	Allow DuplicatePolicy = "allow"
)

// ParsePolicy parses "refuse", "replace" or "allow".
func ParsePolicy(s string) (DuplicatePolicy, error) {
	switch p := DuplicatePolicy(s); p {
	case Replace, Refuse, Allow:
		return p, nil
	}
	return "", fmt.Errorf("duplicate connection policy %q: want refuse, replace or allow", s)
}

// DefaultMaxConnectionsPerUser is the default bound on one user's
// simultaneous connections under the Replace and Allow policies.
const DefaultMaxConnectionsPerUser = 10

// Conn identifies the connection a frame arrived on.
type Conn struct {
	ID       string
	UserID   string
	DeviceID string // tripsense.DefaultDevice when the client named none
	// Admin says the connection's principal is an admin (it may delete
	// any message, see canModerate).
	Admin bool
}

// Service runs the realtime use cases. Its fields are set once before use;
// after that it is safe for concurrent use.
type Service struct {
	Store    tripsense.Store
	Presence tripsense.Presence
	Pusher   tripsense.Pusher
	Catchup  Catchup
	// Auth verifies the tokens of auth frames (in-band token refresh);
	// nil in dev identity mode, where auth frames are refused.
	Auth   tripsense.Authenticator
	Policy DuplicatePolicy
	// MaxConnectionsPerUser bounds a user's simultaneous connections, over
	// all devices, under the Replace and Allow policies (0 means
	// DefaultMaxConnectionsPerUser). A connect beyond it is refused with
	// ERATELIMITED; under Replace, the connections it replaces (its own
	// device's) do not count.
	MaxConnectionsPerUser int
	// FanoutParallelism bounds concurrent pushes of one message (1 when Push
	// never blocks, as in ws/local; more for network pushers such as ws/apigw).
	FanoutParallelism int
	// Fanout, when set, takes the fan-out of messages to rooms with more
	// than FanoutThreshold online connections: the send enqueues jobs of
	// FanoutBatch connections each and acks once they are queued; a
	// consumer (DeliverFanout) pushes. Nil: every fan-out is direct.
	Fanout tripsense.FanoutQueue
	// FanoutThreshold is the room size (online connections) above which
	// fan-out goes to Fanout (DefaultFanoutThreshold when 0).
	FanoutThreshold int
	// FanoutBatch is how many connections one job holds
	// (DefaultFanoutBatch when 0).
	FanoutBatch int
	// Limiter, when set, is asked before every frame a connection sends.
	Limiter Limiter
	// OrderedRooms makes one process hand a room's messages to fan-out in
	// index order, so every connection it serves receives a room's messages
	// in order even under concurrent senders; appends still share commits.
	// It is for the single-process runtime (ws/local), whose store is
	// written by no one else. Lambdas cannot order across processes, and
	// clients order by index there.
	OrderedRooms bool
	// ReceiptInterval is how often at most a room's members receive a
	// receipt frame per reader (see receiptWindows): 0 means
	// DefaultReceiptInterval, negative pushes every receipt at once. A
	// process that does not outlive its request (a Lambda) sets it
	// negative: it cannot push a deferred receipt later.
	ReceiptInterval time.Duration
	// MaxChatMessageBytes bounds a sendMessage's body
	// (tripsense.MaxChatMessageBytes when 0); behind API Gateway it is
	// tripsense.MaxChatMessageBytesGateway, so that every valid frame fits
	// the gateway's 32 KB.
	MaxChatMessageBytes int
	// SyncFrameBytes bounds one messages frame of the sync action
	// (DefaultSyncFrameBytes when 0).
	SyncFrameBytes int
	// SyncMargin is how long before the frame's deadline (ctx.Deadline(),
	// Lambda's timeout on AWS) a sync stops pushing messages and sends its
	// synced frames; 0 means a quarter of the time left when it starts.
	SyncMargin time.Duration
	Now        func() time.Time
	Log        *slog.Logger

	// Epoch, when set, is the store's epoch, sent in every syncDone frame:
	// indexes and cursors are meaningful only within one epoch, and a
	// restored store has a new one (docs/protocol.md).
	Epoch string
	// Observer, when set, is told about every frame (metrics).
	Observer Observer

	order     roomOrder
	receipts  receiptWindows
	afterFunc func(time.Duration, func()) // time.AfterFunc; tests replace it
	userLocks [userLockStripes]sync.Mutex
}

// Broadcaster is an optional fast path of a Pusher that is also the
// Presence (ws/local's Hub): it pushes out to every online connection of
// room except skip without listing them first, and returns the connections
// that turned out to be gone. Push's rules apply to each connection.
type Broadcaster interface {
	Broadcast(ctx context.Context, room, skip string, out tripsense.Outbound) (gone []string)
}

// Budget names one of a connection's rate budgets. Sends and control
// frames have separate budgets, so a phone that flushes its outbox on
// reconnect can still sync, ping and mark read.
type Budget int

const (
	// BudgetSend is spent by sendMessage.
	BudgetSend Budget = iota
	// BudgetControl is spent by every other frame: sync, ping, markRead,
	// auth and unknown actions.
	BudgetControl
)

// Limiter rate-limits frames per connection and budget.
type Limiter interface {
	// Allow reports whether connID may send one more frame of budget b now
	// and, when not, how long until it may (retryAfter > 0).
	Allow(connID string, b Budget) (ok bool, retryAfter time.Duration)
}

// budgetOf says which budget an action spends: every action that appends
// to a room's log spends the send budget.
func budgetOf(action string) Budget {
	switch action {
	case "sendMessage", "editMessage", "deleteMessage", "react":
		return BudgetSend
	}
	return BudgetControl
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Connect admits a new connection of an authenticated user on one of its
// devices (c.DeviceID, tripsense.DefaultDevice when the client named none):
// it applies the duplicate-connection policy, then registers the
// connection as online in every room of the user with the device's stored
// cursors as the delivery baseline. With Refuse and another live
// connection it returns ECONFLICT; over MaxConnectionsPerUser,
// ERATELIMITED.
func (s *Service) Connect(ctx context.Context, c tripsense.Connection) error {
	if !tripsense.ValidID(c.UserID) {
		return tripsense.Errorf(tripsense.EINVALID, "invalid userId")
	}
	if !tripsense.ValidDeviceID(c.DeviceID) {
		return tripsense.Errorf(tripsense.EINVALID, "deviceId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	// One connect of a user at a time in this process, so the policy's
	// check and the registration do not interleave with another connect
	// here (across processes Register's atomic admission decides).
	mu := s.userLock(c.UserID)
	mu.Lock()
	defer mu.Unlock()
	// The policy first runs on the user's connections as they are now, so
	// that replaced connections record their cursors before the new
	// baseline is read. Register runs it again atomically with recording
	// the connection, which decides against connects of the same user in
	// other processes (Lambda instances) too.
	admit := s.admission(c.ID, c.DeviceID)
	existing, err := s.Presence.UserConnections(ctx, c.UserID)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	replace, err := admit(existing)
	if err != nil {
		return err
	}
	if err := s.evict(ctx, replace); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	rooms, err := s.Store.Rooms(ctx, c.UserID)
	if err != nil {
		return fmt.Errorf("connect: rooms: %w", err)
	}
	cursors, err := s.Store.Cursors(ctx, c.UserID, c.DeviceID)
	if err != nil {
		return fmt.Errorf("connect: cursors: %w", err)
	}
	baseline := make(map[string]int64, len(cursors))
	for _, cur := range cursors {
		baseline[cur.Room] = cur.LastSeen
	}
	if c.ConnectedAt.IsZero() {
		c.ConnectedAt = s.now()
	}
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = c.ConnectedAt.Add(tripsense.ConnectionTTL)
	}
	raced, err := s.Presence.Register(ctx, c, rooms, baseline, admit)
	if err != nil {
		return fmt.Errorf("connect: register: %w", err)
	}
	// Connections of the user that registered (elsewhere) after the first
	// look: the policy replaced them too.
	ids := make([]string, 0, len(raced))
	for _, r := range raced {
		ids = append(ids, r.ID)
	}
	if err := s.evict(ctx, ids); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// A membership change between reading the rooms and registering would
	// be missed by this connection: read them again and apply the
	// difference (Join and Leave are idempotent).
	now, err := s.Store.Rooms(ctx, c.UserID)
	if err != nil {
		return fmt.Errorf("connect: rooms: %w", err)
	}
	for _, r := range diff(now, rooms) {
		if err := s.Presence.Join(ctx, c.UserID, r); err != nil {
			return fmt.Errorf("connect: join %s: %w", r, err)
		}
	}
	for _, r := range diff(rooms, now) {
		if err := s.Presence.Leave(ctx, c.UserID, r); err != nil {
			return fmt.Errorf("connect: leave %s: %w", r, err)
		}
	}
	return nil
}

// admission is the duplicate-connection policy as a rule over the user's
// other live connections (see tripsense.Admission), for a new connection
// connID of device.
func (s *Service) admission(connID, device string) tripsense.Admission {
	limit := s.MaxConnectionsPerUser
	if limit <= 0 {
		limit = DefaultMaxConnectionsPerUser
	}
	return func(existing []tripsense.Connection) ([]string, error) {
		var sameDevice []string
		var user string
		others := 0
		for _, e := range existing {
			if e.ID == connID {
				continue
			}
			user = e.UserID
			if e.DeviceID == device {
				sameDevice = append(sameDevice, e.ID)
			}
			others++
		}
		switch s.Policy {
		case Allow:
			if others >= limit {
				return nil, tripsense.Errorf(tripsense.ERATELIMITED, "user %s already has %d connections (the limit)", user, limit)
			}
			return nil, nil
		case Refuse:
			if others > 0 {
				return nil, tripsense.Errorf(tripsense.ECONFLICT, "user %s is already connected (duplicate connection policy: refuse)", user)
			}
			return nil, nil
		}
		// Replace: the device's older connections go; the other devices'
		// stay and count toward the limit.
		if others-len(sameDevice) >= limit {
			return nil, tripsense.Errorf(tripsense.ERATELIMITED, "user %s already has %d connections on other devices (the limit)", user, limit)
		}
		return sameDevice, nil
	}
}

// evict closes the replaced connections with CloseReplaced and runs their
// disconnect (recording their cursors).
func (s *Service) evict(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if err := s.Pusher.Close(ctx, id, CloseReplaced, "replaced by a newer connection"); err != nil && tripsense.ErrorCode(err) != tripsense.EGONE {
			s.log().Warn("close replaced connection", "conn", id, "err", err)
		}
		if err := s.Disconnect(ctx, id); err != nil {
			return fmt.Errorf("replace %s: %w", id, err)
		}
	}
	return nil
}

// diff returns the elements of a that are not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// userLocks serialise the connects of one user (striped by user id).
const userLockStripes = 64

func (s *Service) userLock(user string) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(user); i++ {
		h ^= uint32(user[i])
		h *= 16777619
	}
	return &s.userLocks[h%userLockStripes]
}

// Disconnect removes the connection and advances its device's cursor in
// each room to the connection's delivery watermark: the highest index up to
// which every message reached this connection or was sent or marked read by
// the user. A message whose push failed is never counted as seen. Calling it
// for an unknown connection does nothing.
func (s *Service) Disconnect(ctx context.Context, connID string) error {
	c, marks, err := s.Presence.Unregister(ctx, connID)
	if tripsense.ErrorCode(err) == tripsense.ENOTFOUND {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	var firstErr error
	for room, seen := range marks {
		if seen <= 0 {
			continue
		}
		if _, err := s.Store.AdvanceCursor(ctx, c.UserID, c.DeviceID, room, seen); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("disconnect: cursor %s: %w", room, err)
		}
	}
	return firstErr
}

// Handle runs one client frame from connection c and pushes the answer
// (ack, pong, cursor, synced, or an error frame) to c. Bad input never
// returns an error: it is answered with an error frame and the connection
// stays usable. Handle returns an error only when the answer could not be
// pushed (the connection is gone).
func (s *Service) Handle(ctx context.Context, c Conn, data []byte) error {
	// Every frame takes a token of its budget (sends or control frames)
	// before any work is spent on it, whether it decodes or not; a refused
	// one is not decoded, its action and clientMsgId are only looked up
	// (cheaply) for the budget and the answer. An undecodable frame is
	// charged to the control budget.
	if s.Limiter != nil {
		var action, id string
		if len(data) <= tripsense.MaxFrameBytes {
			action, _ = tripsense.JSONStringMember(data, "action")
		}
		b := budgetOf(action)
		if ok, wait := s.Limiter.Allow(c.ID, b); !ok {
			if len(data) <= tripsense.MaxFrameBytes {
				id, _ = tripsense.JSONStringMember(data, "clientMsgId")
			}
			what := "control frames (sync, ping, markRead, auth)"
			if b == BudgetSend {
				what = "messages"
			}
			err := tripsense.Errorf(tripsense.ERATELIMITED, "too many %s: retry after retryAfterMs", what)
			return s.reply(ctx, c, rateLimitedFrame(err, action, id, wait))
		}
	}
	f, err := decodeFrame(data)
	if s.Observer != nil {
		s.Observer.FrameIn(f.Action)
	}
	if err != nil {
		return s.reply(ctx, c, errorFrame(err, "", ""))
	}
	switch f.Action {
	case "sendMessage":
		err = s.sendMessage(ctx, c, &f)
	case "editMessage", "deleteMessage", "react":
		err = s.lifecycleEvent(ctx, c, &f)
	case "markRead":
		err = s.markRead(ctx, c, &f)
	case "sync":
		err = s.sync(ctx, c, &f)
	case "ping":
		err = s.reply(ctx, c, pongFrame)
	case "auth":
		err = s.auth(ctx, c, &f)
	default:
		err = tripsense.Errorf(tripsense.EUNKNOWNACTION, "unknown action %q: use sendMessage, editMessage, deleteMessage, react, markRead, sync, ping or auth", truncate(f.Action, 64))
	}
	if err == nil {
		return nil
	}
	if tripsense.ErrorCode(err) == tripsense.EGONE {
		return err
	}
	if tripsense.ErrorCode(err) == tripsense.EINTERNAL {
		s.log().Error("frame failed", "conn", c.ID, "user", c.UserID, "action", truncate(f.Action, 64), "err", err)
	}
	return s.reply(ctx, c, errorFrame(err, f.Action, f.ClientMsgID))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Service) reply(ctx context.Context, c Conn, data []byte) error {
	return s.Pusher.Push(ctx, c.ID, tripsense.Outbound{Data: data})
}

// checkUser enforces that a userId named in a frame is the connection's.
func checkUser(c Conn, f *inFrame) error {
	if f.UserID != nil && *f.UserID != c.UserID {
		return tripsense.Errorf(tripsense.EFORBIDDEN, "userId in the frame is not the connection's user")
	}
	return nil
}

func (s *Service) requireMember(ctx context.Context, user, room string) error {
	if !tripsense.ValidID(room) {
		return tripsense.Errorf(tripsense.EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	ok, err := s.Store.IsMember(ctx, user, room)
	if err != nil {
		return fmt.Errorf("membership: %w", err)
	}
	if !ok {
		return tripsense.Errorf(tripsense.ENOTMEMBER, "you are not a member of room %s", room)
	}
	return nil
}

func (s *Service) sendMessage(ctx context.Context, c Conn, f *inFrame) error {
	if err := checkUser(c, f); err != nil {
		return err
	}
	if f.ChatMessage == nil {
		return tripsense.Errorf(tripsense.EINVALID, `sendMessage needs "chatroomId", "chatMessage" and "messageType"`)
	}
	nm := tripsense.NewMessage{
		Room: f.ChatroomID, UserID: c.UserID, Body: *f.ChatMessage, Type: f.MessageType,
		ClientMsgID: f.ClientMsgID, CreateTime: s.now().UTC().Truncate(time.Millisecond),
	}
	if f.ReplyTo != nil {
		if *f.ReplyTo <= 0 {
			return tripsense.Errorf(tripsense.EINVALID, `"replyTo" must be the positive index of a message of the room`)
		}
		nm.ReplyTo = *f.ReplyTo
	}
	if err := tripsense.ValidateNewMessageMax(nm, s.MaxChatMessageBytes); err != nil {
		return err
	}
	if err := s.requireMember(ctx, c.UserID, nm.Room); err != nil {
		return err
	}
	return s.appendEntry(ctx, c, nm)
}

// appendEntry appends nm (a message or an event, validated, the sender a
// member) to its room's log and hands it out: the room's hand-out order,
// Append (durable, idempotent on clientMsgId, the lifecycle rules decided
// in it), the sender's own delivery, fan-out, then the ack. Every action
// that writes to a room goes through it.
func (s *Service) appendEntry(ctx context.Context, c Conn, nm tripsense.NewMessage) error {
	var (
		seq *roomSeq
		cl  *claim
	)
	if s.OrderedRooms {
		var err error
		if seq, err = s.order.enter(nm.Room, func() (int64, error) { return s.Store.Head(ctx, nm.Room) }); err != nil {
			return fmt.Errorf("append: head: %w", err)
		}
		defer s.order.leave(nm.Room, seq)
		// A concurrent retry of this send (same clientMsgId, another
		// connection) that turns out the duplicate waits for this claim.
		cl = seq.claim(nm.UserID, nm.ClientMsgID)
		defer seq.release(cl)
	}
	m, dup, err := s.Store.Append(ctx, nm)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	// The sender has seen its own message. It counts like a delivery, not
	// as "seen through": a concurrent sender's lower index that has not
	// reached this connection yet must not be skipped.
	if err := s.Presence.Delivered(ctx, c.ID, m.Room, m.Index); err != nil && tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		s.log().Warn("record own message as seen", "conn", c.ID, "err", err)
	}
	if dup && s.Fanout != nil {
		// A retry in a room whose fan-out goes to the queue: the first
		// attempt may have stored the message and died before it queued
		// the fan-out (the sender got no ack, which comes after the queue
		// took the jobs). Nothing records that the jobs were queued, so a
		// retry queues them again; recipients dedupe by index.
		s.queueFanout(ctx, c.ID, &m)
	}
	if !dup {
		// A retried send was fanned out when it was first stored; members who
		// missed it then get it from catch-up, so it is not pushed twice.
		if seq != nil {
			s.order.publish(seq, m.Index, func() { s.fanout(ctx, c.ID, &m) })
			seq.release(cl)
		} else {
			s.fanout(ctx, c.ID, &m)
		}
	} else if seq != nil {
		// The original may still be on its way (a retry on another
		// connection racing it): wait until it has been handed out, so that
		// neither this ack nor the room's next index overtakes it.
		if err := seq.awaitOriginal(ctx, cl); err != nil {
			return fmt.Errorf("duplicate: wait for the original: %w", err)
		}
		// Here the original was handed out, or its send failed after the
		// commit and it never will be: mark it handed out (catch-up has
		// it) and let the messages above it go. Publish does nothing more
		// for an index already handed out.
		s.order.publish(seq, m.Index, func() {})
	}
	// The ack goes last: when a sender holds its ack, every online member's
	// connection has already been handed the message.
	return s.reply(ctx, c, ackFrame(&m, dup))
}

// fanout pushes m, encoded once, to every online connection in its room but
// the sender's. A connection that is gone is disconnected (its cursors
// advance to what it really received); one slow or failing connection never
// holds up the others beyond the Pusher's own bound.
func (s *Service) fanout(ctx context.Context, senderConn string, m *tripsense.Message) {
	out := tripsense.Outbound{Data: m.AppendJSON(make([]byte, 0, 160+len(m.Body)), m.FrameType()), Room: m.Room, Index: m.Index}
	if b, ok := s.Pusher.(Broadcaster); ok {
		for _, conn := range b.Broadcast(ctx, m.Room, senderConn, out) {
			if err := s.Disconnect(ctx, conn); err != nil {
				s.log().Warn("disconnect gone connection", "conn", conn, "err", err)
			}
		}
		return
	}
	members, err := s.Presence.RoomConnections(ctx, m.Room)
	if err != nil {
		s.log().Error("fan-out lookup", "room", m.Room, "index", m.Index, "err", err)
		return
	}
	if s.enqueue(ctx, senderConn, m, members) {
		return
	}
	s.pushAll(ctx, senderConn, m, out, members)
}

// pushAll pushes out to every member but skip, FanoutParallelism at a time,
// and disconnects the members that are gone. It returns how many pushes
// failed otherwise (throttled, timed out).
func (s *Service) pushAll(ctx context.Context, skip string, m *tripsense.Message, out tripsense.Outbound, members []tripsense.Member) int {
	senderConn := skip
	var failed atomic.Int32
	push := func(conn string) {
		err := s.Pusher.Push(ctx, conn, out)
		if err == nil {
			return
		}
		if tripsense.ErrorCode(err) == tripsense.EGONE {
			if derr := s.Disconnect(ctx, conn); derr != nil {
				s.log().Warn("disconnect gone connection", "conn", conn, "err", derr)
			}
			return
		}
		failed.Add(1)
		s.log().Warn("push failed", "conn", conn, "room", m.Room, "index", m.Index, "err", err)
	}
	par := s.FanoutParallelism
	if par <= 1 || len(members) <= 2 {
		for _, mb := range members {
			if mb.ConnID != senderConn {
				push(mb.ConnID)
			}
		}
		return int(failed.Load())
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, mb := range members {
		if mb.ConnID == senderConn {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(id string) {
			defer func() { <-sem; wg.Done() }()
			push(id)
		}(mb.ConnID)
	}
	wg.Wait()
	return int(failed.Load())
}

// markRead moves the user's read cursor (lastRead, shared by all devices)
// and answers with a cursor frame. The connection that read the messages
// holds them, so its delivery watermark jumps there too; the stored
// delivered cursor follows on disconnect, as for any delivery.
func (s *Service) markRead(ctx context.Context, c Conn, f *inFrame) error {
	if err := checkUser(c, f); err != nil {
		return err
	}
	if f.Index == nil || *f.Index < 0 {
		return tripsense.Errorf(tripsense.EINVALID, `markRead needs "chatroomId" and a non-negative "index"`)
	}
	if !tripsense.ValidID(f.ChatroomID) {
		return tripsense.Errorf(tripsense.EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	cur, err := s.markReadFrom(ctx, c.UserID, f.ChatroomID, *f.Index, c.ID)
	if err != nil {
		return err
	}
	if err := s.Presence.SeenThrough(ctx, c.ID, cur.Room, cur.LastRead); err != nil && tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		s.log().Warn("seen-through after markRead", "conn", c.ID, "err", err)
	}
	return s.reply(ctx, c, cursorFrame(cur))
}

// AddMember adds user to room and makes the user's online connections
// receive it from then on; the room's online connections, the new
// member's included, get a member frame with "event":"joined". It
// implements the member management of the HTTP API.
func (s *Service) AddMember(ctx context.Context, room, user string) error {
	if !tripsense.ValidID(room) || !tripsense.ValidID(user) {
		return tripsense.Errorf(tripsense.EINVALID, "room and userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	if err := s.Store.AddMember(ctx, room, user); err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	if err := s.Presence.Join(ctx, user, room); err != nil {
		return fmt.Errorf("add member: presence: %w", err)
	}
	// A member added back keeps its cursors: each online connection's
	// watermark starts at its device's, as it would have on connect.
	conns, err := s.Presence.UserConnections(ctx, user)
	if err != nil {
		return fmt.Errorf("add member: connections: %w", err)
	}
	for _, c := range conns {
		cur, err := s.Store.Cursor(ctx, user, c.DeviceID, room)
		if err != nil {
			return fmt.Errorf("add member: cursor: %w", err)
		}
		if cur.LastSeen <= 0 {
			continue
		}
		if err := s.Presence.SeenThrough(ctx, c.ID, room, cur.LastSeen); err != nil && tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
			return fmt.Errorf("add member: baseline: %w", err)
		}
	}
	s.pushRoom(ctx, room, "", memberFrame(room, user, memberJoined))
	return nil
}

// RemoveMember removes user from room; the user's online connections stop
// receiving it at once: the member frame with "event":"left" is the last
// frame of the room they get. The remaining online members get it too.
func (s *Service) RemoveMember(ctx context.Context, room, user string) error {
	if !tripsense.ValidID(room) || !tripsense.ValidID(user) {
		return tripsense.Errorf(tripsense.EINVALID, "room and userId must be 1-%d characters of [A-Za-z0-9_.:@-]", tripsense.MaxIDLen)
	}
	// Store first: a connect that reads the rooms after this sees the
	// removal, and one that read them before is caught by the Leave below
	// or by its own second read.
	if err := s.Store.RemoveMember(ctx, room, user); err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	// The user's connections are listed before they leave the room, and
	// told after: every frame of the room queued for them before the
	// Leave goes out before the member frame, and none after it.
	conns, err := s.Presence.UserConnections(ctx, user)
	if err != nil {
		return fmt.Errorf("remove member: connections: %w", err)
	}
	if err := s.Presence.Leave(ctx, user, room); err != nil {
		return fmt.Errorf("remove member: presence: %w", err)
	}
	left := memberFrame(room, user, memberLeft)
	for _, c := range conns {
		s.pushConn(ctx, c.ID, left)
	}
	s.pushRoom(ctx, room, "", left)
	return nil
}

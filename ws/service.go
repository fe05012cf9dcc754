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
	// Appended, when set, is called after every new entry was handed out
	// (the single binary pokes its webhook dispatcher); it must not block.
	Appended func()

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
	// memberLocks serialise the membership changes of a room and of a
	// user (lockMembership), striped like userLocks.
	memberLocks [userLockStripes]sync.Mutex
}

// Broadcaster is an optional fast path of a Pusher that is also the
// Presence (ws/local's Hub): it pushes out to every online connection of
// room except skip without listing them first, and returns the connections
// that turned out to be gone. Push's rules apply to each connection.
type Broadcaster interface {
	Broadcast(ctx context.Context, room, skip string, out tripsense.Outbound) (gone []string)
}

// BatchBroadcaster is a Broadcaster that also pushes a run of a room's
// messages in one pass: every online connection of room gets outs, in
// order, except the ones whose sender (senders[i] for outs[i]) it is, in
// one push (ws/local's Hub: one write for the whole run). Push's rules
// apply to each connection; a connection that turns out to be gone is
// left to its runtime to disconnect.
type BatchBroadcaster interface {
	Broadcaster
	BroadcastBatch(ctx context.Context, room string, outs []tripsense.Outbound, senders []string)
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
	return &s.userLocks[stripe(user)]
}

// stripe is the lock stripe of id (FNV-1a).
func stripe(id string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h % userLockStripes
}

// lockMembership serialises, in this process, the membership changes of
// room and those of user, and returns the unlock: a change's limit checks
// (members per room, rooms per user), its store write and its log entry
// then do not interleave with another change that could pass the same
// limit or order its entry the other way. Across processes (Lambdas)
// they still can (docs/architecture.md, "Known limitations").
func (s *Service) lockMembership(room, user string) (unlock func()) {
	a, b := stripe(room), stripe(user)
	if a > b {
		a, b = b, a
	}
	s.memberLocks[a].Lock()
	if b != a {
		s.memberLocks[b].Lock()
	}
	return func() {
		if b != a {
			s.memberLocks[b].Unlock()
		}
		s.memberLocks[a].Unlock()
	}
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
	if refusal := s.refusal(c, data); refusal != nil {
		return s.reply(ctx, c, refusal)
	}
	f, err := s.decodeObserved(data)
	if err != nil {
		return s.reply(ctx, c, undecodedFrame(err, data))
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
	return s.answer(ctx, c, f.Action, f.ClientMsgID, err)
}

// decodeObserved decodes a frame that its budget let in and reports its
// action to the Observer (Handle and a Pipeline's sends alike).
func (s *Service) decodeObserved(data []byte) (inFrame, error) {
	f, err := decodeFrame(data)
	if s.Observer != nil {
		s.Observer.FrameIn(f.Action)
	}
	return f, err
}

// answer ends a frame whose action returned err: nothing more to say when
// it is nil, an error frame otherwise. It returns an error only when the
// connection is gone.
func (s *Service) answer(ctx context.Context, c Conn, action, clientMsgID string, err error) error {
	if err == nil {
		return nil
	}
	if tripsense.ErrorCode(err) == tripsense.EGONE {
		return err
	}
	if tripsense.ErrorCode(err) == tripsense.EINTERNAL {
		s.log().Error("frame failed", "conn", c.ID, "user", c.UserID, "action", truncate(action, 64), "err", err)
	}
	return s.reply(ctx, c, errorFrame(err, action, clientMsgID))
}

// refusal charges data to its budget and returns the rate_limited frame
// that answers it when the budget is empty (nil: go ahead).
func (s *Service) refusal(c Conn, data []byte) []byte {
	if s.Limiter == nil {
		return nil
	}
	var action, id string
	if len(data) <= tripsense.MaxFrameBytes {
		action, _ = tripsense.JSONStringMember(data, "action")
	}
	b := budgetOf(action)
	ok, wait := s.Limiter.Allow(c.ID, b)
	if ok {
		return nil
	}
	if len(data) <= tripsense.MaxFrameBytes {
		id, _ = tripsense.JSONStringMember(data, "clientMsgId")
	}
	what := "control frames (sync, ping, markRead, auth)"
	if b == BudgetSend {
		what = "messages"
	}
	err := tripsense.Errorf(tripsense.ERATELIMITED, "too many %s: retry after retryAfterMs", what)
	return rateLimitedFrame(err, action, id, wait)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// reply pushes an answer to c. Answers wait (bounded by ctx) for room in
// the connection's queue rather than closing it as a slow consumer: a
// client that pipelines sends and reads its acks later is not slow, and
// one that never reads is stopped by the in-flight bound and the write
// timeout.
func (s *Service) reply(ctx context.Context, c Conn, data []byte) error {
	return s.Pusher.Push(ctx, c.ID, tripsense.Outbound{Data: data, Wait: true})
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
	op, err := s.startSend(ctx, c, f)
	if err != nil {
		return err
	}
	return s.finishSend(ctx, c, op)
}

// sendOp is one sendMessage between its checks (startSend) and its ack
// (finishSend). While it exists it holds its place in the room's hand-out
// sequence, so finishSend must run for every sendOp startSend returned.
type sendOp struct {
	room string
	seq  *roomSeq
	cl   *claim
	// entry is the send's entry number in seq, -1 once resolved (see
	// roomOrder); bound is what its offer returned, for handOut.
	entry, bound int64
	// q is the send's append: its Done is closed at once when the store
	// has no queue (the Append ran in startSend), after the commit
	// otherwise.
	q tripsense.QueuedAppend

	// Set by land.
	landed bool
	m      tripsense.Message
	dup    bool
	err    error
}

// resolve tells op's room that op will offer no (more) index.
func (op *sendOp) resolve() {
	if op.seq != nil && op.entry >= 0 {
		op.seq.resolve(op.entry)
		op.entry = -1
	}
}

// ready reports whether op's Append has returned (land will not wait).
func (op *sendOp) ready() bool {
	select {
	case <-op.q.Done():
		return true
	default:
		return false
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// appended is the QueuedAppend of an Append that is over (a store that is
// not a QueuedAppender).
type appended struct {
	m   tripsense.Message
	dup bool
	err error
}

func (a *appended) Done() <-chan struct{}                    { return closedChan }
func (a *appended) Result() (tripsense.Message, bool, error) { return a.m, a.dup, a.err }

// QueuedAppender is a store whose appends can be queued now and awaited
// later (store/bolt). Appends are committed in the order they were queued,
// so the messages one connection queues for a room get increasing indexes
// in the order it queued them, and the appends a connection has in flight
// share group commits. A Pipeline needs it to have more than one send of a
// connection in the store at once; without it each Append completes before
// the next frame is read.
//
// The QueuedAppend's Done is closed once the commit that holds the message
// is over; its Result returns what Append would have (waiting for Done,
// bounded by ctx).
type QueuedAppender interface {
	AppendQueued(ctx context.Context, m tripsense.NewMessage) tripsense.QueuedAppend
}

// startSend checks a sendMessage (the frame's user, the message, the
// membership), enters the room's hand-out sequence and hands the message
// to the store. On error nothing is held.
func (s *Service) startSend(ctx context.Context, c Conn, f *inFrame) (*sendOp, error) {
	if err := checkUser(c, f); err != nil {
		return nil, err
	}
	if f.ChatMessage == nil {
		return nil, tripsense.Errorf(tripsense.EINVALID, `sendMessage needs "chatroomId", "chatMessage" and "messageType"`)
	}
	nm := tripsense.NewMessage{
		Room: f.ChatroomID, UserID: c.UserID, Body: *f.ChatMessage, Type: f.MessageType,
		ClientMsgID: f.ClientMsgID, CreateTime: s.now().UTC().Truncate(time.Millisecond),
	}
	if f.ReplyTo != nil {
		if *f.ReplyTo <= 0 {
			return nil, tripsense.Errorf(tripsense.EINVALID, `"replyTo" must be the positive index of a message of the room`)
		}
		nm.ReplyTo = *f.ReplyTo
	}
	if err := tripsense.ValidateNewMessageMax(nm, s.MaxChatMessageBytes); err != nil {
		return nil, err
	}
	if err := s.requireMember(ctx, c.UserID, nm.Room); err != nil {
		return nil, err
	}
	return s.startEntry(ctx, c, nm)
}

// appendEntry appends nm (a message or an event, validated, the sender a
// member) to its room's log and hands it out: the room's hand-out order,
// Append (durable, idempotent on clientMsgId, the lifecycle rules decided
// in it), the sender's own delivery, fan-out, then the ack. It is
// startEntry and finishSend in one go: every action that writes to a room
// goes through startEntry, land and ackSend, so a pipelined sendMessage
// and an unpipelined edit, delete or reaction share one hand-out and
// fan-out path.
func (s *Service) appendEntry(ctx context.Context, c Conn, nm tripsense.NewMessage) error {
	op, err := s.startEntry(ctx, c, nm)
	if err != nil {
		return err
	}
	return s.finishSend(ctx, c, op)
}

// startEntry enters the room's hand-out sequence for nm (validated, the
// sender a member) and hands it to the store, queued when the store is a
// QueuedAppender. On error nothing is held; otherwise finishSend (or land
// and ackSend) must run for the returned op.
func (s *Service) startEntry(ctx context.Context, c Conn, nm tripsense.NewMessage) (*sendOp, error) {
	op := &sendOp{room: nm.Room, entry: -1}
	if s.OrderedRooms {
		var err error
		if op.seq, op.entry, err = s.order.enter(nm.Room, func() (int64, error) { return s.Store.Head(ctx, nm.Room) }); err != nil {
			return nil, fmt.Errorf("append: head: %w", err)
		}
		// A concurrent retry of this send (same clientMsgId, another
		// connection) that turns out the duplicate waits for this claim.
		op.cl = op.seq.claim(nm.UserID, nm.ClientMsgID)
	}
	if qa, ok := s.Store.(QueuedAppender); ok {
		op.q = qa.AppendQueued(ctx, nm)
	} else {
		m, dup, err := s.Store.Append(ctx, nm)
		op.q = &appended{m, dup, err}
	}
	return op, nil
}

// finishSend waits for op's Append, hands the message out (in index order
// per room on the single binary) and acks it. It releases what startSend
// took, whatever happens.
func (s *Service) finishSend(ctx context.Context, c Conn, op *sendOp) error {
	s.land(ctx, c, op)
	return s.ackSend(ctx, c, op)
}

// land is the first half of finishSend: it waits for op's Append, counts
// the message as seen by its sender's connection and offers it to the
// room's hand-out (or, without OrderedRooms, fans it out). A Pipeline lands
// every send of a connection whose commit is over before it acks the first
// of them, so that the messages of one commit go out as one run.
func (s *Service) land(ctx context.Context, c Conn, op *sendOp) {
	if op.landed {
		return
	}
	op.landed = true
	op.m, op.dup, op.err = op.q.Result()
	if op.err != nil || op.dup {
		// No new index to offer: the room's hand-out stops waiting for
		// this send (a failed send's index, if it was committed, is then
		// given up; catch-up has it).
		op.resolve()
	}
	if op.err != nil {
		return
	}
	m := &op.m
	// The sender has seen its own message. It counts like a delivery, not
	// as "seen through": a concurrent sender's lower index that has not
	// reached this connection yet must not be skipped.
	if c.ID == "" {
		// Not sent on a connection (the HTTP send, membership changes,
		// renames).
	} else if err := s.Presence.Delivered(ctx, c.ID, m.Room, m.Index); err != nil && tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		s.log().Warn("record own message as seen", "conn", c.ID, "err", err)
	}
	if op.dup {
		if s.Fanout != nil {
			// A retry in a room whose fan-out goes to the queue: the
			// first attempt may have stored the message and died before
			// it queued the fan-out (the sender got no ack, which comes
			// after the queue took the jobs). Nothing records that the
			// jobs were queued, so a retry queues them again; recipients
			// dedupe by index.
			s.queueFanout(ctx, c.ID, m)
		}
		// A retried send was fanned out when it was first stored; members
		// who missed it then get it from catch-up, so it is not pushed
		// twice.
		return
	}
	if op.seq != nil {
		out := messageOut(m)
		var ok bool
		op.bound, ok = op.seq.offer(fanItem{index: m.Index, sender: c.ID, out: out}, op.entry)
		op.entry = -1
		if !ok {
			// The hand-out gives up only indexes whose sends are
			// resolved, so a new index is never behind it, unless its
			// room was written outside this Service. Pushed now, late:
			// catch-up and clients order by index.
			s.log().Warn("room hand-out passed an index before it was offered", "room", m.Room, "index", m.Index)
			s.fanoutOut(ctx, c.ID, m.Room, m.Index, out)
		}
		return
	}
	s.fanout(ctx, c.ID, m)
}

// ackSend is the second half of finishSend: once the message was handed
// out (on the single binary: every lower index of the room first), it acks
// the send and releases its place in the room.
func (s *Service) ackSend(ctx context.Context, c Conn, op *sendOp) error {
	if err := s.release(ctx, op); err != nil {
		return err
	}
	// The ack goes last: when a sender holds its ack, every online member's
	// connection has already been handed the message.
	return s.reply(ctx, c, ackFrame(&op.m, op.dup))
}

// release is ackSend without the ack: once the message was handed out (on
// the single binary: every lower index of the room first), it releases the
// send's place in the room and tells Appended of a new entry.
func (s *Service) release(ctx context.Context, op *sendOp) error {
	seq, cl := op.seq, op.cl
	if seq != nil {
		defer s.order.leave(op.room, seq)
		defer seq.release(cl)
		defer op.resolve() // when land did not run (it always does)
	}
	if op.err != nil {
		return fmt.Errorf("append: %w", op.err)
	}
	m := &op.m
	if seq != nil && !op.dup {
		s.order.handOut(seq, m.Index, op.bound, func(run []fanItem) { s.fanoutRun(ctx, m.Room, run) })
		seq.release(cl)
	} else if seq != nil {
		// The original may still be on its way (a retry on another
		// connection racing it): wait until it has been handed out, so that
		// neither this ack nor the room's next index overtakes it.
		if err := seq.awaitOriginal(ctx, cl); err != nil {
			return fmt.Errorf("duplicate: wait for the original: %w", err)
		}
		// Here the original was handed out, or its send failed after the
		// commit and it never will be: mark it handed out (catch-up has
		// it) and let the messages above it go. An index handed out
		// already is not offered again.
		bound, _ := seq.offer(fanItem{index: m.Index}, -1)
		s.order.handOut(seq, m.Index, bound, func(run []fanItem) { s.fanoutRun(ctx, m.Room, run) })
	}
	if !op.dup && s.Appended != nil {
		s.Appended()
	}
	return nil
}

// handOut is appendEntry without the ack: the one path of every entry
// into a room's log, from a connection (c.ID set) or not (the HTTP send,
// membership changes, renames: c.ID empty, no connection of the sender
// is skipped or counted).
func (s *Service) handOut(ctx context.Context, c Conn, nm tripsense.NewMessage) (tripsense.Message, bool, error) {
	op, err := s.startEntry(ctx, c, nm)
	if err != nil {
		return tripsense.Message{}, false, err
	}
	s.land(ctx, c, op)
	if err := s.release(ctx, op); err != nil {
		return tripsense.Message{}, false, err
	}
	return op.m, op.dup, nil
}

// messageOut is the live frame of m (a message, or its event's frame type),
// encoded once for every recipient.
func messageOut(m *tripsense.Message) tripsense.Outbound {
	return tripsense.Outbound{Data: m.AppendJSON(make([]byte, 0, m.JSONSizeHint()), m.FrameType()), Room: m.Room, Index: m.Index}
}

// fanoutRun pushes a run of a room's messages, in index order, to the
// room's online connections, each message to all but its sender's: in one
// pass when the Pusher is a BatchBroadcaster (each connection then gets the
// run in one push), message by message otherwise. Items without a frame
// only mark their index.
func (s *Service) fanoutRun(ctx context.Context, room string, run []fanItem) {
	if bb, ok := s.Pusher.(BatchBroadcaster); ok {
		outs := make([]tripsense.Outbound, 0, len(run))
		senders := make([]string, 0, len(run))
		for _, it := range run {
			if it.out.Data != nil {
				outs = append(outs, it.out)
				senders = append(senders, it.sender)
			}
		}
		if len(outs) > 0 {
			bb.BroadcastBatch(ctx, room, outs, senders)
		}
		return
	}
	for _, it := range run {
		if it.out.Data != nil {
			s.fanoutOut(ctx, it.sender, room, it.index, it.out)
		}
	}
}

// fanout pushes m, encoded once, to every online connection in its room but
// the sender's. A connection that is gone is disconnected (its cursors
// advance to what it really received); one slow or failing connection never
// holds up the others beyond the Pusher's own bound.
func (s *Service) fanout(ctx context.Context, senderConn string, m *tripsense.Message) {
	s.fanoutOut(ctx, senderConn, m.Room, m.Index, messageOut(m))
}

// fanoutOut is fanout with the frame encoded already.
func (s *Service) fanoutOut(ctx context.Context, senderConn, room string, index int64, out tripsense.Outbound) {
	if b, ok := s.Pusher.(Broadcaster); ok {
		for _, conn := range b.Broadcast(ctx, room, senderConn, out) {
			if err := s.Disconnect(ctx, conn); err != nil {
				s.log().Warn("disconnect gone connection", "conn", conn, "err", err)
			}
		}
		return
	}
	members, err := s.Presence.RoomConnections(ctx, room)
	if err != nil {
		s.log().Error("fan-out lookup", "room", room, "index", index, "err", err)
		return
	}
	m := &tripsense.Message{Room: room, Index: index}
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

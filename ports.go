package tripsense

import (
	"context"
	"time"
)

// MessageStore stores messages and allocates per-room indexes.
// Implementations are safe for concurrent use.
type MessageStore interface {
	// Append durably stores m with the room's next index and returns the
	// stored message. If m.ClientMsgID is not empty and a message with the
	// same (Room, UserID, ClientMsgID) was stored within DedupeTTL, Append
	// stores nothing and returns that original message with duplicate true.
	// When Append returns without error the message survives a crash.
	//
	// An event (m.Kind set) is decided by ApplyEvent against the entry at
	// m.Target, and a message with ReplyTo by CheckReply against the entry
	// there, atomically with the append: the target's new state and the
	// event are stored together, and two events on one target are decided
	// one after the other. When the rule refuses, Append stores nothing and
	// returns its error. A delete also removes the bodies of the target's
	// earlier edits (Message.Edits) from storage.
	Append(ctx context.Context, m NewMessage) (msg Message, duplicate bool, err error)

	// MessagesAfter returns up to limit messages of room with index > after,
	// in ascending index order.
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]Message, error)

	// MessagesBefore returns up to limit messages of room with index < before
	// (the newest ones below it), in ascending index order.
	MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]Message, error)

	// Head returns the highest index of room, 0 when the room has no messages.
	Head(ctx context.Context, room string) (int64, error)
}

// QueuedAppend is one append a store queued without waiting for its
// commit (store/bolt's AppendQueued; ws.QueuedAppender says how ws uses
// it).
type QueuedAppend interface {
	// Done is closed once the commit that holds the entry is over.
	Done() <-chan struct{}
	// Result returns what Append would have, waiting for Done (bounded by
	// the context the append was queued with) if it is not closed yet.
	Result() (msg Message, duplicate bool, err error)
}

// MembershipStore records who is in which room (the userRoom table).
type MembershipStore interface {
	// IsMember reports whether user is a member of room.
	IsMember(ctx context.Context, user, room string) (bool, error)
	// Rooms returns the rooms of user, sorted.
	Rooms(ctx context.Context, user string) ([]string, error)
	// Members returns the members of room, sorted.
	Members(ctx context.Context, room string) ([]string, error)
	// AddMember adds user to room. Adding an existing member is not an error.
	AddMember(ctx context.Context, room, user string) error
	// RemoveMember removes user from room. Removing a non-member is not an error.
	RemoveMember(ctx context.Context, room, user string) error
}

// CursorStore records delivered cursors (the readCursors table, which keeps
// the seed's name), one per (user, device, room): how far that device's
// connections really got, recorded from the delivery watermark on
// disconnect. They drive catch-up. device is DefaultDevice for clients that
// name none; the cursors stored before devices existed are the default
// device's.
type CursorStore interface {
	// Cursor returns the cursor of (user, device, room); LastSeen 0 if none
	// was written.
	Cursor(ctx context.Context, user, device, room string) (Cursor, error)
	// Cursors returns every stored cursor of (user, device), sorted by
	// room; other devices' cursors are not included.
	Cursors(ctx context.Context, user, device string) ([]Cursor, error)
	// AdvanceCursor sets the cursor of (user, device, room) to
	// max(current, min(lastSeen, head(room))) and returns the result. It
	// never moves a cursor backwards, also when called concurrently, and
	// never moves another device's cursor.
	AdvanceCursor(ctx context.Context, user, device, room string, lastSeen int64) (Cursor, error)
}

// ReadStore records read cursors (lastRead), one per (user, room), apart
// from the delivered cursors of CursorStore: reading never moves a delivered
// cursor and delivering never moves a read cursor. Implementations are safe
// for concurrent use.
type ReadStore interface {
	// ReadCursor returns the read cursor of (user, room); LastRead 0 and a
	// zero UpdatedAt if none was written.
	ReadCursor(ctx context.Context, user, room string) (ReadCursor, error)
	// ReadCursors returns every stored read cursor of user, sorted by room.
	ReadCursors(ctx context.Context, user string) ([]ReadCursor, error)
	// AdvanceReadCursor sets the read cursor of (user, room) to
	// max(current, min(lastRead, head(room))) and returns the result, and
	// moved true when LastRead grew. It never moves a cursor backwards, also
	// when called concurrently; UpdatedAt changes only when LastRead does.
	AdvanceReadCursor(ctx context.Context, user, room string, lastRead int64) (c ReadCursor, moved bool, err error)
	// Receipts returns every stored read cursor of room, sorted by user.
	// It may include users who are no longer members (a member removed and
	// added back keeps its cursor); callers filter. On DynamoDB it reads an
	// eventually consistent index: it is for display, never authorization.
	Receipts(ctx context.Context, room string) ([]ReadCursor, error)
}

// LifecycleStore removes data: retention and a user's erasure.
type LifecycleStore interface {
	// Oldest returns the lowest index of room that retention kept: 1 when
	// nothing was removed, head+1 when everything was. Entries below it are
	// gone; entries from it to the head are all there.
	Oldest(ctx context.Context, room string) (int64, error)
	// Prune removes, room by room and oldest first, the entries created
	// before cutoff, at most limit of them, and returns how many it
	// removed. A room's kept entries stay a gap-free range up to its head,
	// which never moves back. A store whose engine expires entries itself
	// (DynamoDB TTL) returns 0 and hides expired entries from every read.
	Prune(ctx context.Context, cutoff time.Time, limit int) (int, error)
	// EraseUser removes user's data: the body of every message and edit
	// user wrote, in every room (the entries stay, deleted, so indexes keep
	// no gaps), user's memberships, delivered cursors (whatever their key)
	// and read cursors. It returns what it changed; a second call changes
	// nothing and returns zeros.
	EraseUser(ctx context.Context, user string) (Erasure, error)
}

// Erasure counts what EraseUser changed.
type Erasure struct {
	Messages    int `json:"messages"`    // message and edit bodies removed
	Memberships int `json:"memberships"` // rooms left
	Cursors     int `json:"cursors"`     // delivered cursors removed
	ReadCursors int `json:"readCursors"` // read cursors (and so receipts) removed
	Connections int `json:"connections"` // online connections closed (set by ws.Service, not the store)
}

// Store is everything a runtime persists durably.
type Store interface {
	MessageStore
	MembershipStore
	CursorStore
	ReadStore
	LifecycleStore
	RoomStore
	// Close flushes and releases the store.
	Close() error
}

// Outbound is one frame to push to a connection. Room and Index are set when
// the frame carries a stored message; the Pusher then reports the delivery to
// its Presence once the frame has reached the connection.
type Outbound struct {
	Data  []byte
	Room  string
	Index int64
	// Wait asks the Pusher to wait (bounded by ctx) for room in the
	// connection's queue instead of treating a full queue as a slow consumer.
	// A connection's own answers and catch-up (the sync action) use it;
	// fan-out never does.
	Wait bool
	// Through says the frame carries every message of Room the connection
	// had not been sent, up to Index (a batch of a sync, which starts at the
	// client's cursor): once it reached the connection the Pusher reports
	// Presence.SeenThrough(Index), one report for the whole batch, instead
	// of Delivered(Index).
	Through bool
}

// Pusher sends frames to connections. Implementations are safe for
// concurrent use and never block on one slow connection for longer than
// their documented bound.
type Pusher interface {
	// Push sends out to the connection. It returns ErrGone when the connection
	// no longer exists. A nil error means the frame was accepted for delivery;
	// only a frame that reached the connection counts as delivered (see
	// Presence.Delivered).
	Push(ctx context.Context, connID string, out Outbound) error
	// Close closes the connection with a WebSocket close code and reason.
	Close(ctx context.Context, connID string, code int, reason string) error
}

// Member is one online connection of a room member.
type Member struct {
	ConnID string
	UserID string
}

// Admission is a duplicate-connection rule (ws.Service owns the rules). It
// gets the live connections of the user a new connection belongs to, oldest
// first, each with its DeviceID, and without the new one, and returns the ids of those the new
// connection replaces, or an error that refuses it. A Presence may call it
// more than once in one Register (after losing a race with another connect
// of the same user), so it must depend on its argument only.
type Admission func(existing []Connection) (replace []string, err error)

// Presence tracks online connections, which rooms they receive, and what each
// connection has been delivered (its per-room watermark, see Watermark).
type Presence interface {
	// Register records conn as online and receiving rooms. baseline gives, per
	// room, the index the user had already seen when the connection opened.
	//
	// admit (nil admits every connection) is applied to the user's live
	// connections atomically with recording conn, also across processes:
	// of two concurrent Registers of one user, the one recorded second was
	// decided on a set that holds the first. When admit refuses, Register
	// returns its error and records nothing. Register returns the
	// connections admit chose to replace; they stay registered until the
	// caller unregisters them (which records their cursors).
	Register(ctx context.Context, conn Connection, rooms []string, baseline map[string]int64, admit Admission) (replaced []Connection, err error)
	// Unregister removes the connection and returns its per-room watermarks:
	// the highest index per room up to which every message reached it.
	// Rooms whose watermark never moved since the connection began
	// receiving them may be left out (writing them as cursors would change
	// nothing). It returns ErrNotFound when the connection is unknown.
	Unregister(ctx context.Context, connID string) (Connection, map[string]int64, error)
	// Get returns the connection, or ErrNotFound.
	Get(ctx context.Context, connID string) (Connection, error)
	// UserConnections returns the online connections of user, oldest first,
	// as recorded by every Register and Unregister that returned before
	// (never from a lagging index).
	UserConnections(ctx context.Context, user string) ([]Connection, error)
	// RoomConnections returns the online connections that receive room.
	RoomConnections(ctx context.Context, room string) ([]Member, error)
	// Join makes every online connection of user receive room (new member).
	Join(ctx context.Context, user, room string) error
	// Leave stops every online connection of user from receiving room.
	Leave(ctx context.Context, user, room string) error
	// Delivered records that the message index of room reached the connection.
	Delivered(ctx context.Context, connID, room string, index int64) error
	// SeenThrough records that the user of the connection has seen room up to
	// index (it sent that message, or marked it read).
	SeenThrough(ctx context.Context, connID, room string, index int64) error
	// SetExpiry moves the connection's expiry (its token's exp, after an
	// in-band token refresh): it stays registered, and receives its rooms,
	// until then instead. ErrNotFound when the connection is unknown or
	// already expired.
	SetExpiry(ctx context.Context, connID string, expiresAt time.Time) error
}

// AdminRecorder is a Presence that keeps each connection's Admin flag
// (DynamoDB: in the connection's record, which the runtime reads on every
// frame; ws/local: on the hub's connection, which its reader reads). An
// in-band token refresh records the new token's admin claim through it, so
// a revoked admin stops moderating on the open connection.
type AdminRecorder interface {
	// SetAdmin records admin on the live connection connID; ErrNotFound
	// when it is unknown or expired.
	SetAdmin(ctx context.Context, connID string, admin bool) error
}

// FanoutJob is the fan-out of one stored message to a batch of its room's
// online connections, handed to a FanoutQueue when the room is too large to
// push to inside the send (ws.Service.FanoutThreshold). The consumer reads
// the message (Room, Index) from the store and pushes it to Conns.
type FanoutJob struct {
	Room  string   `json:"room"`
	Index int64    `json:"index"`
	Conns []string `json:"conns"`
}

// FanoutQueue takes fan-out jobs for asynchronous, at-least-once delivery:
// a job whose delivery fails is delivered again (so a connection may get a
// message twice; clients dedupe by room and index). Enqueue returns once
// every job is durably queued. Implementations are safe for concurrent use.
type FanoutQueue interface {
	Enqueue(ctx context.Context, jobs []FanoutJob) error
}

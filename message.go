package tripsense

import "time"

// TimeLayout is the wire format of every timestamp: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Message is one entry of a room's log: a chat message (Kind "" or
// KindMessage) or an event that changes one (KindEdit, KindDelete,
// KindReaction). Index is the entry's position in its room: 1, 2, 3, ...
// with no gaps and no duplicates, shared by messages and events.
//
// A message entry is kept in its current state: the store applies every
// event to its target (ApplyEvent) in the same atomic step that appends the
// event, so an edited message holds its latest Body and EditedAt, a deleted
// one an empty Body and Deleted, and Reactions the (user, reaction) pairs
// that count.
type Message struct {
	Room        string
	Index       int64
	UserID      string
	Body        string // chatMessage on the wire; empty once deleted
	Type        string // messageType on the wire (messages only)
	CreateTime  time.Time
	ClientMsgID string // optional; dedupe key together with UserID and Room

	Kind     string // "" (a message, as KindMessage), KindEdit, KindDelete or KindReaction
	Target   int64  // events: the index of the message the event applies to
	ReplyTo  int64  // messages: the index of the message this one replies to, 0 for none
	Reaction string // reaction events: the reaction
	Remove   bool   // reaction events: the reaction is taken back

	// State of a message (and, for Deleted, of an edit event whose body
	// was removed with its target's).
	EditedAt  time.Time  // when the latest edit applied; zero if never edited
	Deleted   bool       // the body is gone: deleted, or erased with its author
	DeletedBy string     // who deleted it ("" when erased)
	DeletedAt time.Time  // when
	Reactions []Reaction // who reacted with what, sorted by reaction then user
	Edits     []int64    // indexes of the edit events applied to it (their bodies go with a delete)
}

// Reaction is one user's reaction to a message.
type Reaction struct {
	UserID   string
	Reaction string
}

// Entry kinds: the "kind" of every catch-up entry, and the "type" of the
// live frame of an event.
const (
	KindMessage  = "message"
	KindEdit     = "edit"
	KindDelete   = "delete"
	KindReaction = "reaction"
)

// EntryKind returns m's kind, KindMessage for a message.
func (m *Message) EntryKind() string {
	if m.Kind == "" {
		return KindMessage
	}
	return m.Kind
}

// IsMessage reports whether m is a chat message (not an event).
func (m *Message) IsMessage() bool { return m.Kind == "" || m.Kind == KindMessage }

// NewMessage is what a sender asks to append to a room's log: a message
// (Kind "") or an event (Kind and Target set). The store assigns Index.
type NewMessage struct {
	Room        string
	UserID      string
	Body        string
	Type        string
	CreateTime  time.Time
	ClientMsgID string

	Kind     string // "" for a message, or KindEdit, KindDelete, KindReaction
	Target   int64  // events: the message to change
	ReplyTo  int64  // messages: the message replied to (0: none)
	Reaction string // KindReaction
	Remove   bool   // KindReaction: take the reaction back
	// Moderator says the sender may delete other users' messages of the
	// room. ws decides it (Service.canModerate: an admin principal today,
	// a room owner or admin once rooms have roles); stores only apply it.
	Moderator bool
}

// Cursor is a device's delivered cursor in a room: every message with an
// index up to LastSeen reached one of the connections of (UserID, DeviceID)
// (or was sent or marked read on it). There is one per (user, device, room);
// it drives that device's catch-up. A cursor only moves forward and never past
// the room's head.
type Cursor struct {
	UserID    string
	DeviceID  string // DefaultDevice for connections opened without a deviceId
	Room      string
	LastSeen  int64
	UpdatedAt time.Time // zero when the cursor was never written
}

// ReadCursor is how far a user has read a room (lastRead on the wire):
// every message with an index up to LastRead has been read. Only the user
// moves it (markRead, PUT /v1/rooms/{room}/cursor), never a delivery; it
// drives unread counts and read receipts. Like Cursor it only moves forward
// and never past the room's head. There is one per (user, room), whatever
// device the user reads on.
type ReadCursor struct {
	UserID    string
	Room      string
	LastRead  int64
	UpdatedAt time.Time // zero when the cursor was never written
}

// Connection is one live client connection (a WebSocket) of one device of
// a user.
type Connection struct {
	ID          string
	UserID      string
	DeviceID    string // DefaultDevice when the client named none
	ConnectedAt time.Time
	ExpiresAt   time.Time // after this the connection is treated as gone
	// Admin says the connection's principal is an admin (it may delete any
	// message): its latest token's claim (an auth refresh records a new
	// one through AdminRecorder).
	Admin bool
}

// DedupeTTL is how long the record of a clientMsgId is kept at least.
const DedupeTTL = 24 * time.Hour

// ConnectionTTL is how long a connection record lives without being refreshed.
const ConnectionTTL = 3 * time.Hour

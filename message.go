package tripsense

import "time"

// TimeLayout is the wire format of every timestamp: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Message is one stored chat message. Index is the message's position in its
// room: 1, 2, 3, ... with no gaps and no duplicates.
type Message struct {
	Room        string
	Index       int64
	UserID      string
	Body        string // chatMessage on the wire
	Type        string // messageType on the wire
	CreateTime  time.Time
	ClientMsgID string // optional; dedupe key together with UserID and Room
}

// NewMessage is what a sender asks to store. The store assigns Index.
type NewMessage struct {
	Room        string
	UserID      string
	Body        string
	Type        string
	CreateTime  time.Time
	ClientMsgID string
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
}

// DedupeTTL is how long the record of a clientMsgId is kept at least.
const DedupeTTL = 24 * time.Hour

// ConnectionTTL is how long a connection record lives without being refreshed.
const ConnectionTTL = 3 * time.Hour

package dynamo

import (
	"errors"
	"fmt"
	"time"
)

// Tables holds the full DynamoDB table names. In AWS they are the names
// serverless.yml gives the tables, stage-prefixed by the caller (see
// TablesWithPrefix); the logical (base) names are the Base* constants.
type Tables struct {
	Messages        string // BaseMessages: room + index
	Dedupe          string // BaseDedupe: room + sender (userId#clientMsgId)
	UserRoom        string // BaseUserRoom: userId + room, index by room
	ReadCursors     string // BaseReadCursors: userId (tripsense.DeviceKey) + room (delivered cursors)
	ReadReceipts    string // BaseReadReceipts: userId + room (read cursors), index by room
	Connections     string // BaseConnections: connectionId
	RoomConnections string // BaseRoomConnections: room + connectionId
	UserConnections string // BaseUserConnections: userId (one item per online user)
	Watermarks      string // BaseWatermarks: connectionId + room
}

// TablesWithPrefix returns the table names prefix+base, for example
// TablesWithPrefix("tripsense-dev-").Messages == "tripsense-dev-messages".
func TablesWithPrefix(prefix string) Tables {
	return Tables{
		Messages:        prefix + BaseMessages,
		Dedupe:          prefix + BaseDedupe,
		UserRoom:        prefix + BaseUserRoom,
		ReadCursors:     prefix + BaseReadCursors,
		ReadReceipts:    prefix + BaseReadReceipts,
		Connections:     prefix + BaseConnections,
		RoomConnections: prefix + BaseRoomConnections,
		UserConnections: prefix + BaseUserConnections,
		Watermarks:      prefix + BaseWatermarks,
	}
}

// Name returns the full name of the table with the given base name, or ""
// for an unknown base name.
func (t Tables) Name(base string) string {
	switch base {
	case BaseMessages:
		return t.Messages
	case BaseDedupe:
		return t.Dedupe
	case BaseUserRoom:
		return t.UserRoom
	case BaseReadCursors:
		return t.ReadCursors
	case BaseReadReceipts:
		return t.ReadReceipts
	case BaseConnections:
		return t.Connections
	case BaseRoomConnections:
		return t.RoomConnections
	case BaseUserConnections:
		return t.UserConnections
	case BaseWatermarks:
		return t.Watermarks
	}
	return ""
}

// Validate reports a missing table name.
func (t Tables) Validate() error {
	var errs []error
	for _, s := range TableSpecs() {
		if t.Name(s.Base) == "" {
			errs = append(errs, fmt.Errorf("dynamo: table name for %q is empty", s.Base))
		}
	}
	return errors.Join(errs...)
}

// Config configures a Store or a Presence.
type Config struct {
	// Tables are the table names; every one is required.
	Tables Tables
	// Now is the clock (default time.Now). It stamps createTime when a
	// message has none, cursor updatedAt, and expiresAt of dedupe records
	// and connections; reads compare expiresAt against it.
	Now func() time.Time
	// MaxAppendAttempts bounds the conditional writes one Append makes while
	// it races senders in other processes for the room's next index
	// (default 100). When they are used up Append returns an ECONFLICT
	// error; retrying the send with the same clientMsgId is safe. (Within
	// one process, Appends to one room take turns and do not race.)
	MaxAppendAttempts int
	// MaxBackoff caps the random pause between two attempts (default 50ms).
	MaxBackoff time.Duration
}

// Validate reports a configuration New or NewPresence cannot work with.
func (c Config) Validate() error {
	if c.MaxAppendAttempts < 0 || c.MaxBackoff < 0 {
		return errors.New("dynamo: MaxAppendAttempts and MaxBackoff must not be negative")
	}
	return c.Tables.Validate()
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxAppendAttempts <= 0 {
		c.MaxAppendAttempts = 100
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 50 * time.Millisecond
	}
	return c
}

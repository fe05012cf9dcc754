package bolt

import (
	"encoding/binary"
	"time"
)

// Bucket names: one per table of the design.
var (
	bucketMessages     = []byte("messages")
	bucketHeads        = []byte("heads")
	bucketDedupe       = []byte("dedupe")
	bucketDedupeByTime = []byte("dedupeByTime") // written by older versions; drained (append.go)
	bucketUserRoom     = []byte("userRoom")
	bucketRoomUser     = []byte("roomUser")
	bucketReadCursors  = []byte("readCursors") // delivered cursors (the seed's name)
	bucketLastRead     = []byte("lastRead")    // read cursors by user, room
	bucketLastReadRoom = []byte("lastReadByRoom")
	bucketOldest       = []byte("oldest")       // room -> lowest index retention kept
	bucketMeta         = []byte("meta")         // the store's epoch (backup.go)
	bucketRooms        = []byte("rooms")        // room -> metadata (rooms.go)
	bucketOutbox       = []byte("outbox")       // seq -> pending webhook event (outbox.go)
	bucketOutboxFailed = []byte("outboxFailed") // seq -> webhook event out of retries
)

var allBuckets = [][]byte{bucketMessages, bucketHeads, bucketDedupe, bucketDedupeByTime,
	bucketUserRoom, bucketRoomUser, bucketReadCursors, bucketLastRead, bucketLastReadRoom, bucketOldest,
	bucketMeta, bucketRooms, bucketOutbox, bucketOutboxFailed}

// Composite keys: every component but the last is prefixed with its length
// as a uvarint (a prefix-free code), so the keys of one first component are
// exactly the keys that start with prefix(first), and the last component
// sorts as its bytes do. Ids are never split or escaped.

// prefix returns uvarint(len(s)) s, with room for extra more bytes.
func prefix(s string, extra int) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(s)+extra)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// pairKey is the key of (a, b): userRoom, roomUser, readCursors, lastRead,
// lastReadByRoom.
func pairKey(a, b string) []byte {
	return append(prefix(a, len(b)), b...)
}

// messageKey is the key of message index of room.
func messageKey(room string, index int64) []byte {
	return binary.BigEndian.AppendUint64(prefix(room, 8), uint64(index))
}

// dedupeKey is the key of (room, user, clientMsgID).
func dedupeKey(room, user, clientMsgID string) []byte {
	k := prefix(room, binary.MaxVarintLen64+len(user)+len(clientMsgID))
	k = binary.AppendUvarint(k, uint64(len(user)))
	k = append(k, user...)
	return append(k, clientMsgID...)
}

func u64(v int64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)) }

// getU64 decodes a big-endian int64 at b[off:]; ok is false if b is short.
func getU64(b []byte, off int) (int64, bool) {
	if len(b) < off+8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[off:])), true
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

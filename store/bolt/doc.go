// Package bolt is the embedded durable tripsense.Store: one bbolt file (a
// copy-on-write B+tree with real transactions) inside the data directory.
//
// Layout: one bucket per table of the design, keys built so that a cursor
// seek finds a range directly (see keys.go):
//
//	messages     room, big-endian index      -> encoded message (codec.go)
//	heads        room                        -> big-endian head index
//	dedupe       room, user, clientMsgId     -> index, time (ms)
//	dedupeByTime time (ms), dedupe key       -> (empty); finds expired records
//	userRoom     user, room                  -> joinedAt (ms)
//	roomUser     room, user                  -> joinedAt (ms)
//	readCursors  device key, room            -> lastSeen, updatedAt (ms): delivered cursors
//	lastRead     user, room                  -> lastRead, updatedAt (ms): read cursors
//	lastReadByRoom room, user                -> lastRead, updatedAt (ms): the same, for receipts
//
// The device key of readCursors is tripsense.DeviceKey(user, device): the
// user id for the default device (so files written before devices existed
// need no migration: their cursors are the default device's) and
// "user#device" for a named one. Read cursors are per user, not per device.
//
// The two lastRead buckets are new in this version; a data file of an older
// one gets them empty on its first open, so every read cursor starts at 0
// (its stored cursors stay the delivered cursors of the default device).
//
// Every write goes through one committer goroutine (commit.go) that takes
// all the writes queued while the previous commit was syncing (waiting up to
// Options.MaxBatchDelay for the previous commit's writers to come back) and
// applies them in one read-write transaction with one fsync pair: group
// commit that follows the load, and a lone writer never waits. An Append allocates the room's next index,
// writes the dedupe record and the message in that transaction, so they
// become durable together; Append returns only after the commit synced, so
// an acknowledged message survives kill -9. Catch-up reads seek to
// (room, after+1) and cost the size of the page, not of the room.
//
// This package imports bbolt, the standard library and the root package.
package bolt

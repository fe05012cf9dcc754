// Package catchup is the offline-sync use case of Tripsense: read cursors,
// catch-up planning (the missed range of every room of a user), paged
// history in both directions and unread counts. Its directory is sync/; its
// name is catchup because a package named sync would shadow the standard
// library's sync in every file that needs both (a mutex next to a catch-up
// call), forcing an alias on one of them each time. Import it as
//
//	catchup "github.com/tripsense/tripsense/sync"
//
// # Rules
//
// Every method checks membership first. A caller who is not a member of a
// room gets an *tripsense.Error with code ENOTMEMBER and learns nothing else
// about the room: not its head, not whether it exists.
//
// A room's missed range for a user is (lastSeen, head]: lastSeen is the
// client's own cursor for the room when it sent one (the client wins over
// the stored cursor, so a client that passes its cursors never misses a
// message even if the stored cursor ran ahead of what it persisted),
// otherwise the stored cursor; either is clamped to [0, head].
//
// Pages are bounded: limit 0 means tripsense.DefaultPageLimit, anything
// outside 1..tripsense.MaxPageLimit is EINVALID. An answer is also bounded
// in bytes: its messages take at most Service.MaxAnswerBytes (default
// DefaultMaxAnswerBytes, 1 MiB) of JSON, and the first message always fits
// so paging progresses. A page never claims more than it holds:
// RoomSync.Complete and HistoryPage.HasMore say whether the range
// continues, and Next says where.
//
// # Entry points
//
//   - Service.Sync: the first page of every room's missed range (GET /v1/sync),
//     at most MaxSyncMessages in total; Service.WriteSync streams its JSON.
//   - Service.History: one page of one room, ascending after an index or the
//     older page below an index (GET /v1/rooms/{room}/messages);
//     Service.WriteHistory streams its JSON.
//   - Service.Rooms: head, lastSeen and unread per room (GET /v1/rooms).
//   - Service.MarkRead: advance a read cursor, never backwards, clamped to
//     the head (PUT /v1/rooms/{room}/cursor and the WebSocket markRead).
//   - Service.Plan: the missed range of every room, without messages.
//   - ParseCursors and FormatCursors: the after=room:N,room:N query syntax.
//
// Encoding: RoomSync and HistoryPage append their JSON with AppendJSON,
// which writes each message with tripsense.Message.AppendJSON into the same
// buffer, so a page costs no allocation per message. WriteSync and
// WriteHistory read the store 64 messages at a time (page.go) and write
// through a 32 KiB buffer, so an answer in flight holds about 1 MiB at most
// whatever its client does; the held and the streamed forms are built by
// the same code and are byte for byte the same.
//
// catchup imports the root package and the standard library only; it sees
// the stores through the Store port, never a concrete store.
package catchup

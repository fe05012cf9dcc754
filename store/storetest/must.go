package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

// MustAppend appends m and fails tb on error. It returns the stored message
// and whether it was a duplicate.
func MustAppend(tb testing.TB, s tripsense.MessageStore, m tripsense.NewMessage) (tripsense.Message, bool) {
	tb.Helper()
	msg, dup, err := s.Append(context.Background(), m)
	if err != nil {
		tb.Fatalf("Append(%s/%s/%q): %v", m.Room, m.UserID, m.ClientMsgID, err)
	}
	return msg, dup
}

// MustAppendNew appends m, fails tb on error or when m was a duplicate, and
// returns the stored message.
func MustAppendNew(tb testing.TB, s tripsense.MessageStore, m tripsense.NewMessage) tripsense.Message {
	tb.Helper()
	msg, dup := MustAppend(tb, s, m)
	if dup {
		tb.Fatalf("Append(%s/%s/%q): duplicate, want a new message", m.Room, m.UserID, m.ClientMsgID)
	}
	return msg
}

// MustAppendN appends n messages from user to room without clientMsgId and
// returns them.
func MustAppendN(tb testing.TB, s tripsense.MessageStore, room, user string, n int) []tripsense.Message {
	tb.Helper()
	out := make([]tripsense.Message, 0, n)
	for i := range n {
		out = append(out, MustAppendNew(tb, s, tripsense.NewMessage{
			Room: room, UserID: user, Body: fmt.Sprintf("message %d", i+1), Type: "text message",
			CreateTime: baseTime.Add(time.Duration(i) * time.Millisecond),
		}))
	}
	return out
}

// MustMessagesAfter returns MessagesAfter and fails tb on error.
func MustMessagesAfter(tb testing.TB, s tripsense.MessageStore, room string, after int64, limit int) []tripsense.Message {
	tb.Helper()
	msgs, err := s.MessagesAfter(context.Background(), room, after, limit)
	if err != nil {
		tb.Fatalf("MessagesAfter(%s, %d, %d): %v", room, after, limit, err)
	}
	return msgs
}

// MustMessagesBefore returns MessagesBefore and fails tb on error.
func MustMessagesBefore(tb testing.TB, s tripsense.MessageStore, room string, before int64, limit int) []tripsense.Message {
	tb.Helper()
	msgs, err := s.MessagesBefore(context.Background(), room, before, limit)
	if err != nil {
		tb.Fatalf("MessagesBefore(%s, %d, %d): %v", room, before, limit, err)
	}
	return msgs
}

// MustHead returns Head and fails tb on error.
func MustHead(tb testing.TB, s tripsense.MessageStore, room string) int64 {
	tb.Helper()
	head, err := s.Head(context.Background(), room)
	if err != nil {
		tb.Fatalf("Head(%s): %v", room, err)
	}
	return head
}

// MustAddMember adds user to room and fails tb on error.
func MustAddMember(tb testing.TB, s tripsense.MembershipStore, room, user string) {
	tb.Helper()
	if err := s.AddMember(context.Background(), room, user); err != nil {
		tb.Fatalf("AddMember(%s, %s): %v", room, user, err)
	}
}

// MustRemoveMember removes user from room and fails tb on error.
func MustRemoveMember(tb testing.TB, s tripsense.MembershipStore, room, user string) {
	tb.Helper()
	if err := s.RemoveMember(context.Background(), room, user); err != nil {
		tb.Fatalf("RemoveMember(%s, %s): %v", room, user, err)
	}
}

// MustIsMember returns IsMember and fails tb on error.
func MustIsMember(tb testing.TB, s tripsense.MembershipStore, user, room string) bool {
	tb.Helper()
	ok, err := s.IsMember(context.Background(), user, room)
	if err != nil {
		tb.Fatalf("IsMember(%s, %s): %v", user, room, err)
	}
	return ok
}

// MustRooms returns Rooms and fails tb on error.
func MustRooms(tb testing.TB, s tripsense.MembershipStore, user string) []string {
	tb.Helper()
	rooms, err := s.Rooms(context.Background(), user)
	if err != nil {
		tb.Fatalf("Rooms(%s): %v", user, err)
	}
	return rooms
}

// MustMembers returns Members and fails tb on error.
func MustMembers(tb testing.TB, s tripsense.MembershipStore, room string) []string {
	tb.Helper()
	users, err := s.Members(context.Background(), room)
	if err != nil {
		tb.Fatalf("Members(%s): %v", room, err)
	}
	return users
}

// MustCursor returns Cursor and fails tb on error.
func MustCursor(tb testing.TB, s tripsense.CursorStore, user, device, room string) tripsense.Cursor {
	tb.Helper()
	c, err := s.Cursor(context.Background(), user, device, room)
	if err != nil {
		tb.Fatalf("Cursor(%s, %q, %s): %v", user, device, room, err)
	}
	return c
}

// MustCursors returns Cursors and fails tb on error.
func MustCursors(tb testing.TB, s tripsense.CursorStore, user, device string) []tripsense.Cursor {
	tb.Helper()
	cs, err := s.Cursors(context.Background(), user, device)
	if err != nil {
		tb.Fatalf("Cursors(%s, %q): %v", user, device, err)
	}
	return cs
}

// MustAdvanceCursor returns AdvanceCursor and fails tb on error.
func MustAdvanceCursor(tb testing.TB, s tripsense.CursorStore, user, device, room string, lastSeen int64) tripsense.Cursor {
	tb.Helper()
	c, err := s.AdvanceCursor(context.Background(), user, device, room, lastSeen)
	if err != nil {
		tb.Fatalf("AdvanceCursor(%s, %q, %s, %d): %v", user, device, room, lastSeen, err)
	}
	return c
}

// SameMessage reports whether a and b are equal, comparing CreateTime at
// millisecond precision (stores may truncate it).
func SameMessage(a, b tripsense.Message) bool {
	return a.Room == b.Room && a.Index == b.Index && a.UserID == b.UserID && a.Body == b.Body &&
		a.Type == b.Type && a.ClientMsgID == b.ClientMsgID &&
		a.CreateTime.UnixMilli() == b.CreateTime.UnixMilli()
}

// baseTime is the CreateTime of the suite's messages (with a sub-millisecond
// part, to check truncation does not shift the millisecond).
var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535_897_932, time.UTC)

// MustReadCursor returns ReadCursor and fails tb on error.
func MustReadCursor(tb testing.TB, s tripsense.ReadStore, user, room string) tripsense.ReadCursor {
	tb.Helper()
	c, err := s.ReadCursor(context.Background(), user, room)
	if err != nil {
		tb.Fatalf("ReadCursor(%s, %s): %v", user, room, err)
	}
	return c
}

// MustReadCursors returns ReadCursors and fails tb on error.
func MustReadCursors(tb testing.TB, s tripsense.ReadStore, user string) []tripsense.ReadCursor {
	tb.Helper()
	cs, err := s.ReadCursors(context.Background(), user)
	if err != nil {
		tb.Fatalf("ReadCursors(%s): %v", user, err)
	}
	return cs
}

// MustAdvanceReadCursor returns AdvanceReadCursor and fails tb on error.
func MustAdvanceReadCursor(tb testing.TB, s tripsense.ReadStore, user, room string, lastRead int64) (tripsense.ReadCursor, bool) {
	tb.Helper()
	c, moved, err := s.AdvanceReadCursor(context.Background(), user, room, lastRead)
	if err != nil {
		tb.Fatalf("AdvanceReadCursor(%s, %s, %d): %v", user, room, lastRead, err)
	}
	return c, moved
}

// MustReceipts returns Receipts and fails tb on error.
func MustReceipts(tb testing.TB, s tripsense.ReadStore, room string) []tripsense.ReadCursor {
	tb.Helper()
	cs, err := s.Receipts(context.Background(), room)
	if err != nil {
		tb.Fatalf("Receipts(%s): %v", room, err)
	}
	return cs
}

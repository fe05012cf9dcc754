package storetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/tripsense/tripsense"
)

// checkRange checks that msgs are exactly the messages of room with indexes
// from..to (inclusive, ascending); from > to means no messages.
func checkRange(t *testing.T, call string, msgs []tripsense.Message, room string, from, to int64) {
	t.Helper()
	want := max(to-from+1, 0)
	if int64(len(msgs)) != want {
		t.Errorf("%s: %d messages, want %d (indexes %d..%d)", call, len(msgs), want, from, to)
		return
	}
	for i, m := range msgs {
		if m.Index != from+int64(i) || m.Room != room {
			t.Errorf("%s: [%d] is %s#%d, want %s#%d", call, i, m.Room, m.Index, room, from+int64(i))
			return
		}
	}
}

func testMessagesAfter(t *testing.T, h *harness) {
	s, _ := h.open(t)
	MustAppendN(t, s, "r", "u1", 25)
	MustAppendN(t, s, "r-other", "u1", 3)
	for _, tc := range []struct {
		after    int64
		limit    int
		from, to int64
	}{
		{0, 10, 1, 10},
		{10, 10, 11, 20},
		{20, 10, 21, 25},
		{25, 10, 26, 25},
		{1000, 10, 1, 0},
		{math.MaxInt64 - 1, 10, 1, 0},
		{0, 100, 1, 25},
		{0, 1, 1, 1},
		{24, 1, 25, 25},
		{7, 3, 8, 10},
		{0, 0, 1, 0},
	} {
		got := MustMessagesAfter(t, s, "r", tc.after, tc.limit)
		checkRange(t, fmt.Sprintf("MessagesAfter(%d, %d)", tc.after, tc.limit), got, "r", tc.from, tc.to)
	}
	// Walking pages the way catch-up does reaches every message exactly once.
	var walked []tripsense.Message
	for after := int64(0); ; {
		page := MustMessagesAfter(t, s, "r", after, 7)
		if len(page) == 0 {
			break
		}
		walked = append(walked, page...)
		after = page[len(page)-1].Index
	}
	checkRange(t, "paged MessagesAfter", walked, "r", 1, 25)
}

func testMessagesBefore(t *testing.T, h *harness) {
	s, _ := h.open(t)
	MustAppendN(t, s, "r", "u1", 25)
	MustAppendN(t, s, "r-other", "u1", 3)
	for _, tc := range []struct {
		before   int64
		limit    int
		from, to int64
	}{
		{26, 10, 16, 25},
		{16, 10, 6, 15},
		{6, 10, 1, 5},
		{2, 10, 1, 1},
		{1, 10, 1, 0},
		{0, 10, 1, 0},
		{1000, 5, 21, 25},
		{math.MaxInt64, 5, 21, 25},
		{26, 100, 1, 25},
		{11, 1, 10, 10},
		{26, 0, 1, 0},
	} {
		got := MustMessagesBefore(t, s, "r", tc.before, tc.limit)
		checkRange(t, fmt.Sprintf("MessagesBefore(%d, %d)", tc.before, tc.limit), got, "r", tc.from, tc.to)
	}
	// Paging backwards from the head reaches every message exactly once.
	var walked []tripsense.Message
	for before := MustHead(t, s, "r") + 1; ; {
		page := MustMessagesBefore(t, s, "r", before, 7)
		if len(page) == 0 {
			break
		}
		walked = append(page, walked...)
		before = page[0].Index
	}
	checkRange(t, "paged MessagesBefore", walked, "r", 1, 25)
}

func testEmptyRoom(t *testing.T, h *harness) {
	s, _ := h.open(t)
	// Rooms whose ids are prefixes of each other must not see each other.
	MustAppendN(t, s, "ab", "u1", 3)
	MustAppendN(t, s, "abc", "u1", 2)
	for room, n := range map[string]int64{"a": 0, "ab": 3, "abc": 2, "abcd": 0, "b": 0} {
		if head := MustHead(t, s, room); head != n {
			t.Errorf("Head(%s) = %d, want %d", room, head, n)
		}
		checkRange(t, "MessagesAfter("+room+", 0)", MustMessagesAfter(t, s, room, 0, 100), room, 1, n)
		checkRange(t, "MessagesBefore("+room+", max)", MustMessagesBefore(t, s, room, math.MaxInt64, 100), room, 1, n)
	}
}

package catchup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
)

// wideBody is the body of the issue's report: 16,383 bytes of U+2028,
// which JSON escapes to 32,766 bytes.
var wideBody = strings.Repeat("\u2028", tripsense.MaxChatMessageBytes/3)

// mustAppendBodies appends n messages with body to room.
func mustAppendBodies(tb testing.TB, st *memory.Store, room string, n int, body string) {
	tb.Helper()
	for range n {
		if _, _, err := st.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: "uuid2", Body: body, Type: "text message"}); err != nil {
			tb.Fatal(err)
		}
	}
}

// jsonSize is the size of m in a page: the size the byte bound counts.
func jsonSize(m *tripsense.Message) int { return len(m.AppendJSON(nil, "")) }

// fitting returns how many of msgs (from the first) fit in bound bytes of
// JSON, at least one.
func fitting(msgs []tripsense.Message, bound int) int {
	n, used := 0, 0
	for i := range msgs {
		s := jsonSize(&msgs[i])
		if n > 0 && used+s > bound {
			break
		}
		n, used = n+1, used+s
	}
	return n
}

func allMessages(tb testing.TB, st *memory.Store, room string) []tripsense.Message {
	tb.Helper()
	msgs, err := st.MessagesAfter(context.Background(), room, 0, 1<<30)
	if err != nil {
		tb.Fatal(err)
	}
	return msgs
}

// TestSyncByteBoundIssueCase: the reported answer (1,000 messages of
// 16,383 bytes of U+2028, limit 1000) was 164.5 MB. Now it ends at the
// 1 MiB bound: 31 messages, complete false, next = to, and paging on
// delivers every index exactly once.
func TestSyncByteBoundIssueCase(t *testing.T) {
	t.Parallel()
	st := MustStore(t, nil)
	mustAppendBodies(t, st, "uuidroom1", 100, wideBody)
	all := allMessages(t, st, "uuidroom1")
	svc := &catchup.Service{Store: st}
	rooms, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom1": 0}, tripsense.MaxPageLimit)
	if err != nil {
		t.Fatal(err)
	}
	r := rooms[0]
	if len(r.Messages) != 31 || fitting(all, catchup.DefaultMaxAnswerBytes) != 31 {
		t.Fatalf("first page holds %d messages (%d fit), want 31", len(r.Messages), fitting(all, catchup.DefaultMaxAnswerBytes))
	}
	if r.Complete || r.To != 31 || r.Next != 31 || r.From != 1 {
		t.Fatalf("first page: from %d to %d complete %v next %d", r.From, r.To, r.Complete, r.Next)
	}
	size := 0
	for i := range r.Messages {
		size += jsonSize(&r.Messages[i])
	}
	if size > catchup.DefaultMaxAnswerBytes || size+jsonSize(&all[31]) <= catchup.DefaultMaxAnswerBytes {
		t.Fatalf("page of %d bytes of messages: not the largest that fits %d", size, catchup.DefaultMaxAnswerBytes)
	}
	// uuidroom2 is empty and complete; no budget is needed for it.
	if rooms[1].Room != "uuidroom2" || !rooms[1].Complete {
		t.Fatalf("room 2: %+v", rooms[1])
	}
	if got := pageSync(t, svc, "uuidroom1", tripsense.MaxPageLimit); !equal(got, span(1, 100)) {
		t.Fatalf("paged %v", got)
	}
}

// pageSync follows next through room's range from 0 and returns the
// indexes received; every page must hold at least one message.
func pageSync(t *testing.T, svc *catchup.Service, room string, limit int) []int64 {
	t.Helper()
	var got []int64
	cursor := int64(0)
	for calls := 0; ; calls++ {
		if calls > 1000 {
			t.Fatal("no end")
		}
		rooms, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, map[string]int64{room: cursor}, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			if r.Room != room {
				continue
			}
			if !r.Complete && len(r.Messages) == 0 {
				t.Fatalf("an incomplete page without a message after %d", cursor)
			}
			if r.To-r.From+1 != int64(len(r.Messages)) || (!r.Complete && r.Next != r.To) {
				t.Fatalf("from %d to %d next %d with %d messages", r.From, r.To, r.Next, len(r.Messages))
			}
			got = append(got, indexes(r.Messages)...)
			if r.Complete {
				return got
			}
			cursor = r.Next
		}
	}
}

// TestSyncByteBoundIsSharedByTheRooms: the bound is per answer. Once the
// first room used it, the next rooms get an empty page that says where to
// continue; the answer still has every room.
func TestSyncByteBoundIsSharedByTheRooms(t *testing.T) {
	t.Parallel()
	st := MustStore(t, nil)
	mustAppendBodies(t, st, "uuidroom1", 10, strings.Repeat("a", 1000))
	mustAppendBodies(t, st, "uuidroom2", 10, strings.Repeat("b", 1000))
	all1, all2 := allMessages(t, st, "uuidroom1"), allMessages(t, st, "uuidroom2")
	// Room 1 fits whole, and two and a half messages of room 2.
	bound := 0
	for i := range all1 {
		bound += jsonSize(&all1[i])
	}
	bound += jsonSize(&all2[0]) + jsonSize(&all2[1]) + jsonSize(&all2[2])/2
	svc := &catchup.Service{Store: st, MaxAnswerBytes: bound}
	rooms, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := rooms[0]; len(r.Messages) != 10 || !r.Complete {
		t.Fatalf("room 1: %d messages, complete %v", len(r.Messages), r.Complete)
	}
	if r := rooms[1]; !equal(indexes(r.Messages), span(1, 2)) || r.Complete || r.Next != 2 || r.To != 2 {
		t.Fatalf("room 2: %v complete %v next %d", indexes(r.Messages), r.Complete, r.Next)
	}
	// A tighter bound: room 1 takes it all; room 2 gets an empty page.
	svc.MaxAnswerBytes = jsonSize(&all1[0]) * 3
	rooms, err = svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom2": 4}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := rooms[0]; !equal(indexes(r.Messages), span(1, 3)) || r.Complete || r.Next != 3 {
		t.Fatalf("room 1: %v complete %v next %d", indexes(r.Messages), r.Complete, r.Next)
	}
	if r := rooms[1]; len(r.Messages) != 0 || r.Complete || r.Next != 4 || r.From != 5 || r.To != 4 {
		t.Fatalf("room 2: %+v", r)
	}
}

// TestFirstMessageAlwaysFits: with a bound below one message, every answer
// holds exactly one message, so paging still ends, in both directions.
func TestFirstMessageAlwaysFits(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 7})
	svc := &catchup.Service{Store: st, MaxAnswerBytes: 1}
	if got := pageSync(t, svc, "uuidroom1", 0); !equal(got, span(1, 7)) {
		t.Fatalf("sync paged %v", got)
	}
	for after := int64(0); after < 7; after++ {
		p, err := svc.History(context.Background(), "uuid1", "uuidroom1", after, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(indexes(p.Messages), span(after+1, after+1)) || p.HasMore != (after < 6) || (p.HasMore && p.Next != after+1) {
			t.Fatalf("after %d: %v hasMore %v next %d", after, indexes(p.Messages), p.HasMore, p.Next)
		}
	}
	for before := int64(8); before > 1; before-- {
		p, err := svc.History(context.Background(), "uuid1", "uuidroom1", 0, before, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(indexes(p.Messages), span(before-1, before-1)) || p.HasMore != (before > 2) || (p.HasMore && p.Next != before-1) {
			t.Fatalf("before %d: %v hasMore %v next %d", before, indexes(p.Messages), p.HasMore, p.Next)
		}
	}
}

// TestHistoryByteBound: an ascending page stops at the bound with hasMore
// and next = its last index; an older page keeps the newest messages below
// before, with next = its first index. Both hold the exact count that fits.
func TestHistoryByteBound(t *testing.T) {
	t.Parallel()
	st := MustStore(t, nil)
	mustAppendBodies(t, st, "uuidroom1", 100, wideBody)
	all := allMessages(t, st, "uuidroom1")
	svc := &catchup.Service{Store: st}
	p, err := svc.History(context.Background(), "uuid1", "uuidroom1", 10, 0, tripsense.MaxPageLimit)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(fitting(all[10:], catchup.DefaultMaxAnswerBytes))
	if n < 2 || !equal(indexes(p.Messages), span(11, 10+n)) || !p.HasMore || p.Next != 10+n {
		t.Fatalf("ascending: %d messages %v hasMore %v next %d, want 11..%d", len(p.Messages), indexes(p.Messages), p.HasMore, p.Next, 10+n)
	}
	p, err = svc.History(context.Background(), "uuid1", "uuidroom1", 0, 1<<40, tripsense.MaxPageLimit)
	if err != nil {
		t.Fatal(err)
	}
	rev := make([]tripsense.Message, len(all))
	for i := range all {
		rev[i] = all[len(all)-1-i]
	}
	n = int64(fitting(rev, catchup.DefaultMaxAnswerBytes))
	if !equal(indexes(p.Messages), span(101-n, 100)) || !p.HasMore || p.Next != 101-n {
		t.Fatalf("newest page: %v hasMore %v next %d, want %d..100", indexes(p.Messages), p.HasMore, p.Next, 101-n)
	}
	// Scrolling back to the start and forward to the end visit every
	// index once.
	var back []int64
	for before, calls := int64(1<<40), 0; ; calls++ {
		if calls > 100 {
			t.Fatal("no end")
		}
		p, err := svc.History(context.Background(), "uuid1", "uuidroom1", 0, before, tripsense.MaxPageLimit)
		if err != nil {
			t.Fatal(err)
		}
		back = append(indexes(p.Messages), back...)
		if !p.HasMore {
			break
		}
		before = p.Next
	}
	if !equal(back, span(1, 100)) {
		t.Fatalf("scrolled back %v", back)
	}
}

// TestPagesReadTheStoreInChunks: whatever the limit, one store call reads
// at most 64 messages, so an answer in flight holds at most that many.
func TestPagesReadTheStoreInChunks(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 1500})
	maxAsked := 0
	f := &faulty{Store: st, after: func(room string, after int64, limit int) ([]tripsense.Message, error) {
		maxAsked = max(maxAsked, limit)
		return st.MessagesAfter(context.Background(), room, after, limit)
	}}
	svc := &catchup.Service{Store: f}
	rooms, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, nil, tripsense.MaxPageLimit)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(indexes(rooms[0].Messages), span(1, 1000)) || rooms[0].Next != 1000 {
		t.Fatalf("got %d messages, next %d", len(rooms[0].Messages), rooms[0].Next)
	}
	if maxAsked != 64 {
		t.Fatalf("largest store read %d messages, want 64", maxAsked)
	}
}

// TestWriteSyncStreamsWhatSyncReturns: the streamed JSON is byte for byte
// the JSON of the held answer, for small and large pages, bound hit or not.
func TestWriteSyncStreamsWhatSyncReturns(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom2": 3})
	mustAppendBodies(t, st, "uuidroom1", 80, wideBody)
	mustAppendBodies(t, st, "uuidroom1", 5, "tail \"quoted\"\n")
	for _, bound := range []int{0, 1, 50_000, 200_000} {
		for _, limit := range []int{0, 1, 7, tripsense.MaxPageLimit} {
			svc := &catchup.Service{Store: st, MaxAnswerBytes: bound}
			for _, cursors := range []map[string]int64{nil, {"uuidroom1": 70}, {"uuidroom1": 85, "uuidroom2": 1}} {
				rooms, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, cursors, limit)
				if err != nil {
					t.Fatal(err)
				}
				want, err := json.Marshal(struct {
					Rooms []catchup.RoomSync `json:"rooms"`
				}{rooms})
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				if err := svc.WriteSync(context.Background(), &got, "uuid1", tripsense.DefaultDevice, cursors, limit); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), append(want, '\n')) {
					t.Fatalf("bound %d limit %d cursors %v: streamed %d bytes differ from the held answer's %d", bound, limit, cursors, got.Len(), len(want)+1)
				}
			}
			for _, q := range [][2]int64{{0, 0}, {40, 0}, {0, 1 << 40}, {0, 60}, {0, 2}} {
				p, err := svc.History(context.Background(), "uuid1", "uuidroom1", q[0], q[1], limit)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := json.Marshal(p)
				var got bytes.Buffer
				if err := svc.WriteHistory(context.Background(), &got, "uuid1", "uuidroom1", q[0], q[1], limit); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), append(want, '\n')) {
					t.Fatalf("history %v bound %d limit %d: streamed %d bytes differ from the held page's %d", q, bound, limit, got.Len(), len(want)+1)
				}
			}
		}
	}
}

// countingWriter counts bytes and writes.
type countingWriter struct{ n, writes int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	c.writes++
	return len(p), nil
}

// TestWriteSyncErrorsBeforeTheFirstByte: errors of the request, of the
// planning and of a store read within the first 32 KiB reach the caller
// before anything was written, so it can still answer with an error.
func TestWriteSyncErrorsBeforeTheFirstByte(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 5, "uuidroom2": 3})
	failing := &faulty{Store: st, after: func(room string, after int64, limit int) ([]tripsense.Message, error) {
		if room == "uuidroom2" {
			return nil, errBoom
		}
		return st.MessagesAfter(context.Background(), room, after, limit)
	}}
	tests := []struct {
		name    string
		store   catchup.Store
		cursors map[string]int64
		limit   int
		code    string
	}{
		{"bad limit", st, nil, -1, tripsense.EINVALID},
		{"store fails on the second room", failing, nil, 0, tripsense.EINTERNAL},
	}
	for _, tt := range tests {
		var w countingWriter
		err := (&catchup.Service{Store: tt.store}).WriteSync(context.Background(), &w, "uuid1", tripsense.DefaultDevice, tt.cursors, tt.limit)
		wantCode(t, err, tt.code)
		if tt.code == tripsense.EINTERNAL && !errors.Is(err, errBoom) {
			t.Errorf("%s: %v does not wrap the store's error", tt.name, err)
		}
		if w.n != 0 {
			t.Errorf("%s: %d bytes written before the error", tt.name, w.n)
		}
	}
	var w countingWriter
	err := (&catchup.Service{Store: st}).WriteHistory(context.Background(), &w, "uuid1", "uuidroom3", 0, 0, 0)
	wantCode(t, err, tripsense.ENOTMEMBER)
	if w.n != 0 {
		t.Errorf("history: %d bytes written before the error", w.n)
	}
}

// TestWriteSyncStaleRoomFailsAlone: a room of the client's cursors the
// user is not in is an entry with its error in the streamed answer, the
// same bytes as the held answer, and the other rooms are caught up.
func TestWriteSyncStaleRoomFailsAlone(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom1": 2, "uuidroom2": 1})
	svc := &catchup.Service{Store: st}
	cursors := map[string]int64{"uuidroom3": 0}
	var buf bytes.Buffer
	if err := svc.WriteSync(context.Background(), &buf, "uuid1", tripsense.DefaultDevice, cursors, 0); err != nil {
		t.Fatal(err)
	}
	held, err := svc.Sync(context.Background(), "uuid1", tripsense.DefaultDevice, cursors, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(map[string]any{"rooms": held})
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.TrimSpace(buf.Bytes()); !bytes.Equal(got, want) {
		t.Fatalf("streamed %s\nheld     %s", got, want)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`{"chatroomId":"uuidroom3","error":{"code":"not_member"`)) {
		t.Fatalf("no error entry for the stale room: %s", buf.Bytes())
	}
	if len(held) != 3 || len(held[0].Messages) != 2 || len(held[1].Messages) != 1 {
		t.Fatalf("other rooms not caught up: %+v", held)
	}
}

// TestWriteSyncWritesInBoundedPieces: a large answer reaches the writer in
// pieces of about 32 KiB (one large message at most on its own), not in
// one piece at the end.
func TestWriteSyncWritesInBoundedPieces(t *testing.T) {
	t.Parallel()
	st := MustStore(t, nil)
	mustAppendBodies(t, st, "uuidroom1", 100, wideBody)
	var w maxWriter
	if err := (&catchup.Service{Store: st}).WriteSync(context.Background(), &w, "uuid1", tripsense.DefaultDevice, nil, tripsense.MaxPageLimit); err != nil {
		t.Fatal(err)
	}
	if w.n < catchup.DefaultMaxAnswerBytes-40_000 || w.n > catchup.DefaultMaxAnswerBytes+1000 {
		t.Fatalf("answer of %d bytes", w.n)
	}
	if w.largest > 64<<10 || w.writes < w.n/(64<<10) {
		t.Fatalf("%d writes, the largest %d bytes", w.writes, w.largest)
	}
}

type maxWriter struct{ n, writes, largest int }

func (m *maxWriter) Write(p []byte) (int, error) {
	m.n += len(p)
	m.writes++
	m.largest = max(m.largest, len(p))
	return len(p), nil
}

// TestWriteSyncStopsAtAWriteError: the writer's error is returned as it
// is, and no further store read happens after it.
func TestWriteSyncStopsAtAWriteError(t *testing.T) {
	t.Parallel()
	st := MustStore(t, nil)
	mustAppendBodies(t, st, "uuidroom1", 200, wideBody)
	reads := 0
	f := &faulty{Store: st, after: func(room string, after int64, limit int) ([]tripsense.Message, error) {
		reads++
		return st.MessagesAfter(context.Background(), room, after, limit)
	}}
	errGone := fmt.Errorf("client went away")
	err := (&catchup.Service{Store: f, MaxAnswerBytes: 1 << 30}).WriteSync(context.Background(), failWriter{errGone}, "uuid1", tripsense.DefaultDevice, nil, tripsense.MaxPageLimit)
	if !errors.Is(err, errGone) {
		t.Fatalf("err %v", err)
	}
	if reads != 1 {
		t.Fatalf("%d store reads after the writer failed on the first", reads)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

const (
	concurrentSenders = 50
	messagesPerSender = 4
)

func newMsg(room, user, clientMsgID, body string) tripsense.NewMessage {
	return tripsense.NewMessage{Room: room, UserID: user, Body: body, Type: "text message",
		CreateTime: baseTime, ClientMsgID: clientMsgID}
}

// sendConcurrently starts senders goroutines per room, each appending perSender
// messages with distinct clientMsgIds, and returns every stored message by
// room. Errors are reported with t.Errorf from the goroutines.
func sendConcurrently(t *testing.T, s tripsense.MessageStore, rooms []string, senders, perSender int) map[string][]tripsense.Message {
	t.Helper()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out = make(map[string][]tripsense.Message)
	)
	start := make(chan struct{})
	for _, room := range rooms {
		for u := range senders {
			wg.Go(func() {
				<-start
				user := fmt.Sprintf("user-%02d", u)
				var last int64
				for i := range perSender {
					nm := newMsg(room, user, fmt.Sprintf("c-%d", i), fmt.Sprintf("%s says %d in %s", user, i, room))
					msg, dup, err := s.Append(context.Background(), nm)
					if err != nil {
						t.Errorf("Append(%s, %s, %d): %v", room, user, i, err)
						return
					}
					if dup {
						t.Errorf("Append(%s, %s, %d): duplicate", room, user, i)
					}
					if msg.Index <= last {
						t.Errorf("%s in %s: message %d got index %d after %d", user, room, i, msg.Index, last)
					}
					last = msg.Index
					mu.Lock()
					out[room] = append(out[room], msg)
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return out
}

// checkAllStored checks that sent holds exactly indexes 1..len(sent) of room
// and that the store returns each of them as sent, in order.
func checkAllStored(t *testing.T, s tripsense.MessageStore, room string, sent []tripsense.Message) {
	t.Helper()
	n := int64(len(sent))
	byIndex := make(map[int64]tripsense.Message, n)
	for _, m := range sent {
		if m.Index < 1 || m.Index > n {
			t.Errorf("%s: index %d outside 1..%d", room, m.Index, n)
		}
		if prev, ok := byIndex[m.Index]; ok {
			t.Errorf("%s: index %d given twice (%q and %q)", room, m.Index, prev.Body, m.Body)
		}
		byIndex[m.Index] = m
	}
	if head := MustHead(t, s, room); head != n {
		t.Errorf("%s: Head = %d, want %d", room, head, n)
	}
	got := MustMessagesAfter(t, s, room, 0, int(n)+10)
	if int64(len(got)) != n {
		t.Fatalf("%s: MessagesAfter(0) returned %d messages, want %d", room, len(got), n)
	}
	for i, m := range got {
		if m.Index != int64(i)+1 {
			t.Fatalf("%s: MessagesAfter(0)[%d].Index = %d, want %d", room, i, m.Index, i+1)
		}
		if !SameMessage(m, byIndex[m.Index]) {
			t.Errorf("%s: stored %+v, Append returned %+v", room, m, byIndex[m.Index])
		}
	}
}

func testAppendConcurrentOneRoom(t *testing.T, h *harness) {
	s, _ := h.open(t)
	sent := sendConcurrently(t, s, []string{"room-1"}, concurrentSenders, messagesPerSender)
	checkAllStored(t, s, "room-1", sent["room-1"])
}

func testAppendConcurrentSeveralRooms(t *testing.T, h *harness) {
	s, _ := h.open(t)
	rooms := []string{"room-a", "room-b", "room-c", "room-d", "room-e"}
	sent := sendConcurrently(t, s, rooms, 10, 5)
	for _, room := range rooms {
		checkAllStored(t, s, room, sent[room])
	}
	if head := MustHead(t, s, "room-f"); head != 0 {
		t.Errorf("Head of an untouched room = %d, want 0", head)
	}
}

func testAppendReturnsStored(t *testing.T, h *harness) {
	s, _ := h.open(t)
	nm := tripsense.NewMessage{Room: "uuidroom1", UserID: "uuid2", Body: "hi", Type: "text message",
		CreateTime: baseTime, ClientMsgID: "c-1"}
	got := MustAppendNew(t, s, nm)
	want := tripsense.Message{Room: nm.Room, Index: 1, UserID: nm.UserID, Body: nm.Body, Type: nm.Type,
		CreateTime: nm.CreateTime, ClientMsgID: nm.ClientMsgID}
	if !SameMessage(got, want) {
		t.Fatalf("Append returned %+v, want %+v", got, want)
	}
	stored := MustMessagesAfter(t, s, nm.Room, 0, 10)
	if len(stored) != 1 || !SameMessage(stored[0], want) {
		t.Fatalf("MessagesAfter = %+v, want [%+v]", stored, want)
	}
	second := MustAppendNew(t, s, newMsg(nm.Room, "uuid1", "", "hello"))
	if second.Index != 2 {
		t.Fatalf("second Append index = %d, want 2", second.Index)
	}
}

func testIdempotentSequential(t *testing.T, h *harness) {
	s, _ := h.open(t)
	first := MustAppendNew(t, s, newMsg("r", "u1", "c-1", "original"))
	for i := range 3 {
		// A retry carries the same key; even a different body must not create a message.
		retry, dup := MustAppend(t, s, newMsg("r", "u1", "c-1", fmt.Sprintf("retry %d", i)))
		if !dup {
			t.Fatalf("retry %d: duplicate = false", i)
		}
		if !SameMessage(retry, first) {
			t.Fatalf("retry %d returned %+v, want the original %+v", i, retry, first)
		}
	}
	if head := MustHead(t, s, "r"); head != 1 {
		t.Fatalf("Head = %d after retries, want 1", head)
	}
	next := MustAppendNew(t, s, newMsg("r", "u1", "c-2", "next"))
	if next.Index != 2 {
		t.Fatalf("next message index = %d, want 2", next.Index)
	}
	if msgs := MustMessagesAfter(t, s, "r", 0, 10); len(msgs) != 2 || msgs[0].Body != "original" {
		t.Fatalf("stored %+v, want original and next", msgs)
	}
}

func testIdempotentConcurrent(t *testing.T, h *harness) {
	s, _ := h.open(t)
	const keys, retries = 10, 5
	type result struct {
		msg tripsense.Message
		dup bool
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results = make(map[string][]result)
	)
	start := make(chan struct{})
	for k := range keys {
		for range retries {
			wg.Go(func() {
				<-start
				id := fmt.Sprintf("c-%d", k)
				msg, dup, err := s.Append(context.Background(), newMsg("r", "u1", id, "body "+id))
				if err != nil {
					t.Errorf("Append(%s): %v", id, err)
					return
				}
				mu.Lock()
				results[id] = append(results[id], result{msg, dup})
				mu.Unlock()
			})
		}
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	var originals []tripsense.Message
	for id, rs := range results {
		fresh := 0
		for _, r := range rs {
			if !r.dup {
				fresh++
				originals = append(originals, r.msg)
			}
			if !SameMessage(r.msg, rs[0].msg) {
				t.Errorf("%s: attempts returned different messages: %+v and %+v", id, r.msg, rs[0].msg)
			}
		}
		if fresh != 1 {
			t.Errorf("%s: %d of %d attempts returned duplicate=false, want exactly 1", id, fresh, len(rs))
		}
	}
	checkAllStored(t, s, "r", originals)
}

func testClientMsgIDScope(t *testing.T, h *harness) {
	s, _ := h.open(t)
	a := MustAppendNew(t, s, newMsg("r1", "u1", "c-1", "from u1 in r1"))
	b := MustAppendNew(t, s, newMsg("r1", "u2", "c-1", "from u2 in r1"))
	c := MustAppendNew(t, s, newMsg("r2", "u1", "c-1", "from u1 in r2"))
	if a.Index != 1 || b.Index != 2 || c.Index != 1 {
		t.Fatalf("indexes = %d, %d, %d; want 1, 2, 1", a.Index, b.Index, c.Index)
	}
	for _, want := range []tripsense.Message{a, b, c} {
		got, dup := MustAppend(t, s, newMsg(want.Room, want.UserID, "c-1", "retry"))
		if !dup || !SameMessage(got, want) {
			t.Errorf("retry of %s/%s: %+v dup=%v, want %+v", want.Room, want.UserID, got, dup, want)
		}
	}
	if h1, h2 := MustHead(t, s, "r1"), MustHead(t, s, "r2"); h1 != 2 || h2 != 1 {
		t.Fatalf("heads = %d, %d; want 2, 1", h1, h2)
	}
}

func testNoClientMsgID(t *testing.T, h *harness) {
	s, _ := h.open(t)
	for i := range 3 {
		if m := MustAppendNew(t, s, newMsg("r", "u1", "", "same body")); m.Index != int64(i)+1 {
			t.Fatalf("append %d: index %d", i, m.Index)
		}
	}
}

func testCreateTime(t *testing.T, h *harness) {
	s, _ := h.open(t)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	times := []time.Time{
		time.Date(2026, 11, 25, 1, 2, 3, 4_567_891, zone),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i, ct := range times {
		nm := newMsg("r", "u1", "", fmt.Sprint(i))
		nm.CreateTime = ct
		m := MustAppendNew(t, s, nm)
		if m.CreateTime.UnixMilli() != ct.UnixMilli() {
			t.Errorf("Append returned CreateTime %v, want %v at ms precision", m.CreateTime, ct)
		}
	}
	for i, m := range MustMessagesAfter(t, s, "r", 0, 10) {
		if m.CreateTime.UnixMilli() != times[i].UnixMilli() {
			t.Errorf("stored CreateTime %v, want %v at ms precision", m.CreateTime, times[i])
		}
	}
}

func testBodies(t *testing.T, h *harness) {
	s, _ := h.open(t)
	maxBody := make([]byte, 0, tripsense.MaxChatMessageBytes)
	for len(maxBody)+len("€") <= tripsense.MaxChatMessageBytes-1 {
		maxBody = append(maxBody, "€"...)
	}
	for len(maxBody) < tripsense.MaxChatMessageBytes {
		maxBody = append(maxBody, 'x')
	}
	longID := func(c byte) string {
		b := make([]byte, tripsense.MaxIDLen)
		const alphabet = "AZaz09_.:@-"
		for i := range b {
			b[i] = alphabet[i%len(alphabet)]
		}
		b[0] = c
		return string(b)
	}
	clientID := make([]byte, tripsense.MaxClientMsgIDLen)
	for i := range clientID {
		clientID[i] = byte(0x21 + i%94)
	}
	cases := []tripsense.NewMessage{
		newMsg("r", "u1", "c-1", "héllo wörld — 你好，世界 — こんにちは — 😀👍🏽👨‍👩‍👧 — e\u0301 — \u2028\u2029 — tab\tnewline\nquote\"backslash\\"),
		newMsg("r", "u1", "c-2", string(maxBody)),
		{Room: longID('r'), UserID: longID('u'), Body: "long ids", Type: "a/b.c:d_e-f g", CreateTime: baseTime, ClientMsgID: string(clientID)},
		newMsg("r", "u1", "", "x"),
	}
	var sent []tripsense.Message
	for _, nm := range cases {
		m := MustAppendNew(t, s, nm)
		if m.Body != nm.Body || m.Room != nm.Room || m.UserID != nm.UserID || m.Type != nm.Type || m.ClientMsgID != nm.ClientMsgID {
			t.Errorf("Append changed the message: sent %.80q, got %.80q", nm.Body, m.Body)
		}
		sent = append(sent, m)
	}
	if len(sent[1].Body) != tripsense.MaxChatMessageBytes {
		t.Fatalf("max body is %d bytes, want %d", len(sent[1].Body), tripsense.MaxChatMessageBytes)
	}
	got := MustMessagesAfter(t, s, "r", 0, 10)
	got = append(got, MustMessagesAfter(t, s, cases[2].Room, 0, 10)...)
	if len(got) != 4 {
		t.Fatalf("stored %d messages, want 4", len(got))
	}
	want := []tripsense.Message{sent[0], sent[1], sent[3], sent[2]}
	for i := range want {
		if !SameMessage(got[i], want[i]) {
			t.Errorf("stored %.100q, want %.100q", got[i].Body, want[i].Body)
		}
	}
	if _, dup := MustAppend(t, s, cases[2]); !dup {
		t.Errorf("retry with a %d-byte clientMsgId and %d-byte ids was not a duplicate", len(clientID), tripsense.MaxIDLen)
	}
}

package api_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
)

// wideBody is 16,383 bytes of U+2028, 32,766 bytes once escaped.
var wideBody = strings.Repeat("\u2028", tripsense.MaxChatMessageBytes/3)

// wideServer serves the API over a memory store where uuid1 is in
// uuidroom1 with n messages of body, reading the store through wrap when it
// is not nil.
func wideServer(t *testing.T, n int, body string, wrap func(*memory.Store) catchup.Store) (*fixture, *memory.Store) {
	t.Helper()
	st := memory.New()
	if err := st.AddMember(t.Context(), "uuidroom1", "uuid1"); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, _, err := st.Append(t.Context(), tripsense.NewMessage{Room: "uuidroom1", UserID: "uuid2", Body: body, Type: "text message"}); err != nil {
			t.Fatal(err)
		}
	}
	var store catchup.Store = st
	if wrap != nil {
		store = wrap(st)
	}
	logs := &lockedBuffer{}
	h := api.New(api.Config{Sync: &catchup.Service{Store: store}, Members: members{st}, Reads: reads{st}, Auth: fakeAuth{},
		Log: slog.New(slog.NewJSONHandler(logs, nil))})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{st: st, srv: srv, logs: logs}, st
}

// TestSyncByteBoundOverHTTP: the request, GET /v1/sync?limit=1000
// over 16 KiB messages that escape to 32 KiB, answers 31 messages in about
// 1 MiB (not 164.5 MB) with complete false and next = to, and paging on
// delivers each index once.
func TestSyncByteBoundOverHTTP(t *testing.T) {
	t.Parallel()
	f, _ := wideServer(t, 100, wideBody, nil)
	res := f.MustDo(t, "GET", "/v1/sync?limit=1000", "", u1, "uuid1")
	var r struct{ Rooms []roomSync }
	strict(t, res.body, &r)
	room := r.Rooms[0]
	if len(room.Messages) != 31 || room.From != 1 || room.To != 31 || room.Complete || room.Next == nil || *room.Next != 31 {
		t.Fatalf("first page: %d messages from %d to %d complete %v next %v", len(room.Messages), room.From, room.To, room.Complete, room.Next)
	}
	if len(res.body) > catchup.DefaultMaxAnswerBytes+1000 || len(res.body) < catchup.DefaultMaxAnswerBytes-40_000 {
		t.Fatalf("answer of %d bytes", len(res.body))
	}
	var got []int64
	cursor := int64(0)
	for calls := 0; ; calls++ {
		if calls > 10 {
			t.Fatal("no end")
		}
		res := f.MustDo(t, "GET", "/v1/sync?limit=1000&after=uuidroom1:"+itoa(cursor), "", u1, "uuid1")
		var r struct{ Rooms []roomSync }
		strict(t, res.body, &r)
		room := r.Rooms[0]
		if len(room.Messages) == 0 || room.To-room.From+1 != int64(len(room.Messages)) {
			t.Fatalf("after %d: %d messages from %d to %d", cursor, len(room.Messages), room.From, room.To)
		}
		got = append(got, msgIndexes(room.Messages)...)
		if room.Complete {
			break
		}
		cursor = *room.Next
	}
	for i, idx := range got {
		if idx != int64(i+1) || len(got) != 100 {
			t.Fatalf("got %d messages, position %d has index %d", len(got), i, idx)
		}
	}
}

// TestHistoryByteBoundOverHTTP: ascending and older pages stop at the byte
// bound with hasMore and the right next.
func TestHistoryByteBoundOverHTTP(t *testing.T) {
	t.Parallel()
	f, _ := wideServer(t, 100, wideBody, nil)
	tests := []struct {
		query    string
		from, to int64
		next     int64
	}{
		{"after=0&limit=1000", 1, 31, 31},
		{"after=60&limit=1000", 61, 91, 91},
		{"limit=1000", 70, 100, 70},
		{"before=50&limit=1000", 19, 49, 19},
		{"before=32&limit=1000", 1, 31, 0},
		{"after=80&limit=1000", 81, 100, 0},
	}
	for _, tt := range tests {
		res := f.MustDo(t, "GET", "/v1/rooms/uuidroom1/messages?"+tt.query, "", u1, "uuid1")
		var p historyPage
		strict(t, res.body, &p)
		idx := msgIndexes(p.Messages)
		if len(idx) != int(tt.to-tt.from+1) || idx[0] != tt.from || idx[len(idx)-1] != tt.to {
			t.Fatalf("%s: indexes %v, want %d..%d", tt.query, idx, tt.from, tt.to)
		}
		if p.HasMore != (tt.next != 0) || (p.HasMore && *p.Next != tt.next) {
			t.Fatalf("%s: hasMore %v next %v, want next %d", tt.query, p.HasMore, p.Next, tt.next)
		}
	}
}

// failAfter is a store whose message reads fail from the n-th call on.
type failAfter struct {
	*memory.Store
	n     int64
	calls atomic.Int64
}

var errDisk = errors.New("secret-detail: disk gone")

func (s *failAfter) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error) {
	if s.calls.Add(1) >= s.n {
		return nil, errDisk
	}
	return s.Store.MessagesAfter(ctx, room, after, limit)
}

// TestStoreFailureWhileStreaming: a store failure before the first 32 KiB
// went out is an ordinary 500; one after part of the answer went out cuts
// the response short (the client sees a broken body, never a complete page
// with messages missing) and is logged once, without the detail reaching
// the client.
func TestStoreFailureWhileStreaming(t *testing.T) {
	t.Parallel()
	// 8 KB messages: the first read (64 messages) is 0.5 MiB of the 1 MiB
	// bound, so the answer needs a second read.
	body := strings.Repeat("x", 8000)
	f, _ := wideServer(t, 100, body, func(st *memory.Store) catchup.Store { return &failAfter{Store: st, n: 1} })
	res := f.MustDo(t, "GET", "/v1/sync?limit=1000", "", u1, "uuid1")
	if code, _, ok := errorOf(res.body); res.status != http.StatusInternalServerError || !ok || code != tripsense.EINTERNAL {
		t.Fatalf("failure on the first read: %d %s", res.status, res.body)
	}

	f, _ = wideServer(t, 100, body, func(st *memory.Store) catchup.Store { return &failAfter{Store: st, n: 2} })
	resp, err := f.srv.Client().Get(f.srv.URL + "/v1/sync?limit=1000&userId=uuid1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err == nil {
		t.Fatalf("failure mid-answer: status %d, body of %d bytes read without error", resp.StatusCode, len(b))
	}
	if strings.Contains(string(b), "secret-detail") || !strings.Contains(f.logs.String(), "request failed mid-answer") {
		t.Fatalf("body %q..., logs %s", b[:min(len(b), 100)], f.logs.String())
	}
}

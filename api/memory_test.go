package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
)

// copyingStore returns fresh copies of the messages it reads, as a store
// that decodes from disk (bbolt) or the network (DynamoDB) does; the memory
// store would share the bodies it holds anyway.
type copyingStore struct{ *memory.Store }

func copies(msgs []tripsense.Message) []tripsense.Message {
	for i := range msgs {
		msgs[i].Body = strings.Clone(msgs[i].Body)
		msgs[i].UserID = strings.Clone(msgs[i].UserID)
		msgs[i].Type = strings.Clone(msgs[i].Type)
	}
	return msgs
}

func (s copyingStore) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error) {
	msgs, err := s.Store.MessagesAfter(ctx, room, after, limit)
	return copies(msgs), err
}

func (s copyingStore) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, error) {
	msgs, err := s.Store.MessagesBefore(ctx, room, before, limit)
	return copies(msgs), err
}

// blockedWriter is a client that reads nothing: its first Write blocks
// until release is closed. What it is finally sent is kept in body.
type blockedWriter struct {
	header  http.Header
	status  int
	blocked chan struct{} // closed when the first Write blocks
	release chan struct{}
	once    sync.Once
	body    []byte
}

func newBlockedWriter(release chan struct{}) *blockedWriter {
	return &blockedWriter{header: http.Header{}, blocked: make(chan struct{}), release: release}
}

func (b *blockedWriter) Header() http.Header { return b.header }
func (b *blockedWriter) WriteHeader(s int)   { b.status = s }
func (b *blockedWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.blocked) })
	<-b.release
	b.body = append(b.body, p...)
	return len(p), nil
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestUnreadAnswersHoldBoundedMemory: six clients that read nothing hold
// six catch-up answers open (GET /v1/sync?limit=1000 over 1,000 messages
// of 16,383 bytes of U+2028, the 164.5 MB answer; then history
// pages both ways). While they are stuck, the server's live heap grows by
// at most the documented figure per answer (docs/api.md): 1.25 MiB for a
// streamed answer, 2.5 MiB for an older history page, which is held before
// it is written. Once released, each answer is complete, valid JSON, cut at
// the 1 MiB byte bound.
func TestUnreadAnswersHoldBoundedMemory(t *testing.T) {
	st := memory.New()
	ctx := context.Background()
	if err := st.AddMember(ctx, "room", "reader"); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("\u2028", tripsense.MaxChatMessageBytes/3)
	for range tripsense.MaxPageLimit {
		if _, _, err := st.Append(ctx, tripsense.NewMessage{Room: "room", UserID: "sender", Body: body, Type: "text message"}); err != nil {
			t.Fatal(err)
		}
	}
	h := api.New(api.Config{Sync: &catchup.Service{Store: copyingStore{st}}, Members: members{st}, Reads: reads{st}, Auth: fakeAuth{},
		Log: slog.New(slog.DiscardHandler)})
	const clients = 6
	const mib = 1 << 20
	tests := []struct {
		path     string
		perReq   uint64 // the documented figure
		messages int
	}{
		{"/v1/sync?limit=1000", 5 * mib / 4, 31},
		{"/v1/rooms/room/messages?after=0&limit=1000", 5 * mib / 4, 31},
		{"/v1/rooms/room/messages?limit=1000", 5 * mib / 2, 31},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			release := make(chan struct{})
			writers := make([]*blockedWriter, clients)
			var wg sync.WaitGroup
			defer func() { // never leave a handler stuck, whatever failed
				select {
				case <-release:
				default:
					close(release)
				}
				wg.Wait()
			}()
			before := heapInUse()
			for i := range writers {
				writers[i] = newBlockedWriter(release)
				req := httptest.NewRequest(http.MethodGet, tt.path, nil)
				req.Header.Set("X-User-Id", "reader")
				wg.Add(1)
				go func() {
					defer wg.Done()
					h.ServeHTTP(writers[i], req)
				}()
			}
			deadline := time.NewTimer(30 * time.Second) // a bound, not a wait for an event
			defer deadline.Stop()
			for i, w := range writers {
				select {
				case <-w.blocked:
				case <-deadline.C:
					t.Fatalf("answer %d never started", i)
				}
			}
			held := int64(heapInUse()) - int64(before)
			t.Logf("%d unread answers hold %.2f MiB of heap (%.2f MiB each)", clients, float64(held)/mib, float64(held)/mib/clients)
			if held > int64(clients*tt.perReq) {
				t.Fatalf("%d unread answers hold %d bytes of heap, over %d per answer", clients, held, tt.perReq)
			}
			close(release)
			wg.Wait()
			for i, w := range writers {
				var page struct {
					Rooms []struct {
						Messages []json.RawMessage `json:"messages"`
						Complete bool              `json:"complete"`
					} `json:"rooms"`
					Messages []json.RawMessage `json:"messages"`
					HasMore  bool              `json:"hasMore"`
				}
				if err := json.Unmarshal(w.body, &page); err != nil || w.status != http.StatusOK {
					t.Fatalf("answer %d: status %d, %v", i, w.status, err)
				}
				n, more := len(page.Messages), page.HasMore
				if len(page.Rooms) == 1 {
					n, more = len(page.Rooms[0].Messages), !page.Rooms[0].Complete
				}
				if n != tt.messages || !more || len(w.body) > catchup.DefaultMaxAnswerBytes+1000 {
					t.Fatalf("answer %d: %d messages (more %v) in %d bytes", i, n, more, len(w.body))
				}
			}
		})
	}
}

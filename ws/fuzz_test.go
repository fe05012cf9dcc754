package ws_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// FuzzHandleFrame feeds arbitrary bytes to the frame handler: it must never
// panic, must answer every frame with exactly one typed frame (or none for a
// valid sync without rooms), and may store at most one message per frame.
func FuzzHandleFrame(f *testing.F) {
	for _, seed := range []string{
		`{"action":"sendMessage","userId":"uuid1","chatroomId":"uuidroom1","chatMessage":"hi","messageType":"text message"}`,
		`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"x","messageType":"t","clientMsgId":"c-1"}`,
		`{"action":"markRead","chatroomId":"uuidroom1","index":3}`,
		`{"action":"sync","cursors":{"uuidroom2":1}}`,
		`{"action":"ping"}`, `{"action":""}`, `{}`, `[]`, `null`, `"x"`, `{"action":1}`,
		`{"action":"sendMessage","chatMessage":null}`, `{"action":"markRead","index":-9223372036854775808}`,
		"{\"action\":\"sendMessage\",\"chatroomId\":\"uuidroom1\",\"chatMessage\":\"\xff\",\"messageType\":\"t\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fx := newFixture(t, ws.Replace)
		c := fx.connect(t, "c1", "uuid1")
		if err := fx.svc.Handle(context.Background(), c, data); err != nil {
			t.Fatalf("Handle returned %v for %q", err, data)
		}
		frames := fx.rec.take("c1")
		if len(frames) == 0 {
			t.Fatalf("no answer to %q", data)
		}
		for _, fr := range frames {
			switch fr["type"] {
			case "ack", "error", "pong", "cursor", "synced", "syncDone", "message":
			default:
				t.Fatalf("answer %v to %q", fr, data)
			}
		}
		var total int64
		for _, room := range []string{"uuidroom1", "uuidroom2", "uuidroom3"} {
			h, _ := fx.store.Head(context.Background(), room)
			total += h
		}
		if total > 1 {
			t.Fatalf("one frame stored %d messages", total)
		}
	})
}

// failingStore fails every Append, as a full disk would.
type failingStore struct {
	tripsense.Store
}

func (failingStore) Append(context.Context, tripsense.NewMessage) (tripsense.Message, bool, error) {
	return tripsense.Message{}, false, errors.New("write /data/tripsense.db: no space left on device")
}

func TestStoreFailureAcknowledgesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	f.svc.Store = failingStore{f.store}
	u1 := f.connect(t, "c1", "uuid1")
	f.connect(t, "c2", "uuid2")
	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "lost?"))
	e := onlyFrame(t, f.rec.take("c1"), "error")
	if e["code"] != "internal" || e["message"] != "internal error" {
		t.Fatalf("error frame %v: want code internal without details", e)
	}
	if got := f.rec.take("c2"); len(got) != 0 {
		t.Fatalf("a message that was not stored was pushed: %v", got)
	}
	// The connection and the service keep working once the store recovers.
	f.svc.Store = f.store
	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "stored"))
	if ack := onlyFrame(t, f.rec.take("c1"), "ack"); ack["index"] != float64(1) {
		t.Fatalf("ack = %v", ack)
	}
}

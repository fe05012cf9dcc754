package ws_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// TestOrderedRoomsDeliverInIndexOrder: with many concurrent senders in one
// room, the other member receives the room's messages in index order.
func TestOrderedRoomsDeliverInIndexOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Allow)
	f.svc.OrderedRooms = true
	f.svc.MaxConnectionsPerUser = 100
	f.connect(t, "reader", "uuid2")
	const senders, each = 16, 50
	var wg sync.WaitGroup
	for i := range senders {
		c := f.connect(t, fmt.Sprint("s", i), "uuid1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				if err := f.svc.Handle(context.Background(), c, []byte(sendFrame("uuid1", "uuidroom2", fmt.Sprint(n)))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	frames := f.rec.take("reader")
	if len(frames) != senders*each {
		t.Fatalf("reader got %d frames, want %d", len(frames), senders*each)
	}
	for i, fr := range frames {
		if fr["index"] != float64(i+1) {
			t.Fatalf("frame %d has index %v: out of order", i, fr["index"])
		}
	}
}

// lossyStore commits one chosen append but reports an error for it, like a
// timeout that fires after the commit.
type lossyStore struct {
	tripsense.Store
	failOn atomic.Int64 // the call number (1-based) that fails after committing
	calls  atomic.Int64
}

func (s *lossyStore) Append(ctx context.Context, m tripsense.NewMessage) (tripsense.Message, bool, error) {
	msg, dup, err := s.Store.Append(ctx, m)
	if s.calls.Add(1) == s.failOn.Load() {
		return tripsense.Message{}, false, errors.New("context deadline exceeded")
	}
	return msg, dup, err
}

// TestOrderedRoomsSurviveAnIndexThatIsNeverHandedOut: an index committed by
// a send that then failed is never fanned out; later messages still go out.
func TestOrderedRoomsSurviveAnIndexThatIsNeverHandedOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Allow)
	ls := &lossyStore{Store: f.store}
	ls.failOn.Store(2)
	f.svc.Store = ls
	f.svc.OrderedRooms = true
	f.connect(t, "reader", "uuid2")
	w := f.connect(t, "writer", "uuid1")
	for n := range 3 {
		f.send(t, w, sendFrame("uuid1", "uuidroom2", fmt.Sprint(n)))
	}
	got := f.rec.take("reader")
	if len(got) != 2 || got[0]["index"] != float64(1) || got[1]["index"] != float64(3) {
		t.Fatalf("reader got %v, want indexes 1 and 3", got)
	}
	writer := f.rec.take("writer")
	if len(writer) != 3 || writer[1]["type"] != "error" || writer[2]["type"] != "ack" {
		t.Fatalf("writer got %v", writer)
	}
}

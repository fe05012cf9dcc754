package ws_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// retryStore holds back the return of the original append of clientMsgId
// key until the other appends of the round (the duplicate and another
// sender's message) have returned, plus a short injected delay: the
// original's fan-out then starts last, the moment a duplicate that does not
// wait for it would let the next index overtake it.
type retryStore struct {
	tripsense.Store
	key    string
	stored chan struct{} // receives once the original is stored
	others chan struct{} // one token per other append that returned
}

func (s *retryStore) Append(ctx context.Context, m tripsense.NewMessage) (tripsense.Message, bool, error) {
	msg, dup, err := s.Store.Append(ctx, m)
	if err != nil || m.ClientMsgID != s.key || dup {
		s.others <- struct{}{}
		return msg, dup, err
	}
	s.stored <- struct{}{}
	deadline := time.NewTimer(5 * time.Second) // a bound, not a wait for an event
	defer deadline.Stop()
	for range 2 {
		select {
		case <-s.others:
		case <-deadline.C:
			return msg, dup, err
		}
	}
	time.Sleep(2 * time.Millisecond) // injected delay: the others get ahead
	return msg, dup, err
}

// TestDuplicateSendWaitsForTheOriginalsHandOut: the same clientMsgId sent
// on two connections of one user at once, while another member sends too.
// Every connection must receive the room's messages in index order, and the
// duplicate's ack must come only after the original was handed to every
// online member.
func TestDuplicateSendWaitsForTheOriginalsHandOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Allow)
	rs := &retryStore{Store: f.store, stored: make(chan struct{}, 1), others: make(chan struct{}, 2)}
	f.svc.Store = rs
	f.svc.OrderedRooms = true
	a1, a2 := f.connect(t, "a1", "uuid1"), f.connect(t, "a2", "uuid1")
	other := f.connect(t, "other", "uuid2")
	f.connect(t, "reader", "uuid2")
	for round := range 20 {
		rs.key = fmt.Sprint("retry-", round)
		frame := fmt.Sprintf(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"m","messageType":"text message","clientMsgId":%q}`, rs.key)
		var wg sync.WaitGroup
		handle := func(c ws.Conn, frame string) {
			defer wg.Done()
			if err := f.svc.Handle(context.Background(), c, []byte(frame)); err != nil {
				t.Error(err)
			}
		}
		wg.Add(1)
		go handle(a1, frame)
		// The duplicate and the other sender start once the original is
		// stored: their appends return (a duplicate, and the next index)
		// while the original's return is held back.
		select {
		case <-rs.stored:
		case <-time.After(5 * time.Second):
			t.Fatal("the original was never stored")
		}
		wg.Add(2)
		go handle(a2, frame)
		go handle(other, sendFrame("uuid2", "uuidroom2", "other"))
		wg.Wait()
		original := float64(2*round + 1)
		for _, id := range []string{"reader", "a1", "a2", "other"} {
			var got []float64
			for _, fr := range f.rec.take(id) {
				switch {
				case fr["type"] == "message":
					got = append(got, fr["index"].(float64))
				case fr["type"] == "ack" && fr["duplicate"] == true && !slices.Contains(got, original):
					t.Fatalf("round %d: %s got the duplicate's ack before the original (index %v)", round, id, original)
				}
			}
			if !slices.IsSorted(got) {
				t.Fatalf("round %d: %s received indexes %v, out of order", round, id, got)
			}
		}
	}
}

// TestRetryOfAnOriginalThatFailedAfterItsCommit: the original's send fails
// after the store committed it; the retry finds it (a duplicate), does not
// wait for an original that will never hand it out, and the room goes on.
func TestRetryOfAnOriginalThatFailedAfterItsCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Allow)
	ls := &lossyStore{Store: f.store}
	ls.failOn.Store(1)
	f.svc.Store = ls
	f.svc.OrderedRooms = true
	f.connect(t, "reader", "uuid2")
	w1, w2 := f.connect(t, "w1", "uuid1"), f.connect(t, "w2", "uuid1")
	frame := `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"m","messageType":"text message","clientMsgId":"k"}`
	f.send(t, w1, frame)
	if got := onlyFrame(t, f.rec.take("w1"), "error"); got["clientMsgId"] != "k" {
		t.Fatalf("w1 got %v", got)
	}
	f.send(t, w2, frame)
	if got := onlyFrame(t, f.rec.take("w2"), "ack"); got["duplicate"] != true || got["index"] != float64(1) {
		t.Fatalf("w2 got %v", got)
	}
	f.send(t, w1, sendFrame("uuid1", "uuidroom2", "next"))
	if got := onlyFrame(t, f.rec.take("reader"), "message"); got["index"] != float64(2) {
		t.Fatalf("reader got %v", got)
	}
}

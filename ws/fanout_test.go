package ws_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// largeRoom gives the fixture a room "big" with the sender uuid1 and n
// other online members (connections m1..mn), and a MemoryQueue taking the
// fan-out of rooms over threshold connections, batch connections a job.
func largeRoom(t *testing.T, n, threshold, batch int) (*fixture, *ws.MemoryQueue, ws.Conn) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	if err := f.store.AddMember(ctx, "big", "uuid1"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := f.store.AddMember(ctx, "big", fmt.Sprint("member", i)); err != nil {
			t.Fatal(err)
		}
	}
	sender := f.connect(t, "sender", "uuid1")
	for i := 1; i <= n; i++ {
		f.connect(t, fmt.Sprint("m", i), fmt.Sprint("member", i))
	}
	q := &ws.MemoryQueue{}
	f.svc.Fanout, f.svc.FanoutThreshold, f.svc.FanoutBatch = q, threshold, batch
	return f, q, sender
}

func sendWithID(room, body, id string) string {
	return fmt.Sprintf(`{"action":"sendMessage","chatroomId":%q,"chatMessage":%q,"messageType":"t","clientMsgId":%q}`, room, body, id)
}

// TestLargeRoomFanoutGoesToTheQueue: above the threshold the send acks
// after the durable write and the enqueue, without pushing to the room;
// the consumer then pushes every member exactly once, in jobs of the batch
// size, and the deliveries count toward the watermarks.
func TestLargeRoomFanoutGoesToTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, q, sender := largeRoom(t, 5, 3, 2)
	f.send(t, sender, sendWithID("big", "hello all", "q-1"))
	if ack := onlyFrame(t, f.rec.take("sender"), "ack"); ack["index"] != float64(1) {
		t.Fatalf("ack %v", ack)
	}
	for i := 1; i <= 5; i++ {
		if got := f.rec.take(fmt.Sprint("m", i)); len(got) != 0 {
			t.Fatalf("m%d got %v before the consumer ran", i, got)
		}
	}
	if q.Len() != 3 { // 5 members, 2 a job
		t.Fatalf("%d jobs queued, want 3", q.Len())
	}
	if n := q.Drain(ctx, f.svc.DeliverFanout); n != 3 {
		t.Fatalf("%d jobs delivered", n)
	}
	for i := 1; i <= 5; i++ {
		if m := onlyFrame(t, f.rec.take(fmt.Sprint("m", i)), "message"); m["chatMessage"] != "hello all" || m["index"] != float64(1) {
			t.Fatalf("m%d got %v", i, m)
		}
	}
	if got := f.rec.take("sender"); len(got) != 0 {
		t.Fatalf("the sender got its own message: %v", got)
	}
	if err := f.svc.Disconnect(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "member1", "", "big"); cur.LastSeen != 1 {
		t.Fatalf("cursor %d after a queued delivery, want 1", cur.LastSeen)
	}
	// A small room stays direct.
	f.send(t, sender, sendWithID("uuidroom2", "small", "q-2"))
	if q.Len() != 0 {
		t.Fatalf("a small room's fan-out was queued")
	}
}

// TestRetryRequeuesAnUnfinishedFanout: a send whose first attempt stored
// the message but never queued its fan-out (the invocation died in
// between, so the sender got no ack) is fanned out by the retry.
func TestRetryRequeuesAnUnfinishedFanout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, q, sender := largeRoom(t, 4, 2, 10)
	// The first attempt: stored, then the process died.
	if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "big", UserID: "uuid1", Body: "lost fan-out", Type: "t", ClientMsgID: "r-1", CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f.send(t, sender, sendWithID("big", "lost fan-out", "r-1"))
	if ack := onlyFrame(t, f.rec.take("sender"), "ack"); ack["duplicate"] != true {
		t.Fatalf("ack %v, want the duplicate", ack)
	}
	if q.Len() != 1 {
		t.Fatalf("%d jobs queued by the retry, want 1", q.Len())
	}
	q.Drain(ctx, f.svc.DeliverFanout)
	for i := 1; i <= 4; i++ {
		if m := onlyFrame(t, f.rec.take(fmt.Sprint("m", i)), "message"); m["chatMessage"] != "lost fan-out" {
			t.Fatalf("m%d got %v", i, m)
		}
	}
}

// TestFanoutJobFailuresAreRetried: a job whose push is throttled fails and
// is delivered again (the members that had it get it twice), a gone
// member is disconnected, and a job that keeps failing ends in the
// dead-letter queue.
func TestFanoutJobFailuresAreRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, q, sender := largeRoom(t, 3, 1, 3)
	f.rec.mu.Lock()
	f.rec.throttle["m2"] = 1
	f.rec.gone["m3"] = true
	f.rec.mu.Unlock()
	f.send(t, sender, sendWithID("big", "retry me", "f-1"))
	f.rec.take("sender")
	if n := q.Drain(ctx, f.svc.DeliverFanout); n != 1 || len(q.Dead()) != 0 {
		t.Fatalf("%d deliveries, dead %v", n, q.Dead())
	}
	if got := f.rec.take("m1"); len(got) != 2 {
		t.Fatalf("m1 got %d frames, want the message twice (first delivery and its retry)", len(got))
	}
	if got := f.rec.take("m2"); len(got) != 1 {
		t.Fatalf("m2 got %d frames, want 1 (throttled once, then delivered)", len(got))
	}
	if _, err := f.hub.Get(ctx, "m3"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("gone member still registered: %v", err)
	}
	// Always throttled: three receives, then the dead-letter queue.
	f.rec.mu.Lock()
	f.rec.throttle["m2"] = 100
	f.rec.mu.Unlock()
	f.send(t, sender, sendWithID("big", "never", "f-2"))
	q.Drain(ctx, f.svc.DeliverFanout)
	if dead := q.Dead(); len(dead) != 1 || dead[0].Index != 2 {
		t.Fatalf("dead %v", dead)
	}
	// A job for a message that does not exist is refused, not retried forever.
	if err := f.svc.DeliverFanout(ctx, tripsense.FanoutJob{Room: "big", Index: 99, Conns: []string{"m1"}}); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("missing message: %v", err)
	}
}

// TestQueueDownFallsBackToDirectFanout: when the queue refuses the jobs,
// the send pushes directly rather than leave the room to catch-up.
func TestQueueDownFallsBackToDirectFanout(t *testing.T) {
	t.Parallel()
	f, q, sender := largeRoom(t, 3, 1, 10)
	q.Fail = errors.New("queue unavailable")
	f.send(t, sender, sendWithID("big", "direct", "d-1"))
	onlyFrame(t, f.rec.take("sender"), "ack")
	for i := 1; i <= 3; i++ {
		onlyFrame(t, f.rec.take(fmt.Sprint("m", i)), "message")
	}
}

package local

import (
	"context"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

// TestAuthedGoesAheadOfQueuedMessages: a live message that reached a
// first-frame connection's queue between Register and the authed answer
// is written after authed.
func TestAuthedGoesAheadOfQueuedMessages(t *testing.T) {
	t.Parallel()
	c := newConn(tripsense.Connection{ID: "c", UserID: "u"})
	lim := queueLimits{frames: 16, waitBytes: 1 << 20}
	if err := c.enqueue(context.Background(), tripsense.Outbound{Data: []byte(`{"type":"message"}`), Room: "r", Index: 1}, lim); err != nil {
		t.Fatal(err)
	}
	c.pushFront([]byte(`{"type":"authed"}`))
	// Served now: the frames queued before go out in one run.
	runs := 0
	c.serve(func() { runs++ }, time.Hour)
	if runs != 1 {
		t.Fatalf("%d writer runs started, want 1", runs)
	}
	job, batch, _, _ := c.next()
	if job != jobBatch || len(batch) != 2 || string(batch[0].Data) != `{"type":"authed"}` || batch[1].Index != 1 {
		t.Fatalf("batch %+v", batch)
	}
	c.recordBatch(batch, true)
	if job, _, _, _ := c.next(); job != jobIdle {
		t.Fatal("the run did not end with nothing to write")
	}
	c.close(4000, "x")
	if runs != 2 {
		t.Fatalf("%d writer runs started, want a second one for the close", runs)
	}
	c.pushFront([]byte(`{"type":"authed"}`)) // closing: nothing queued
	if job, _, _, _ := c.next(); job != jobClose {
		t.Fatal("not closing")
	}
}

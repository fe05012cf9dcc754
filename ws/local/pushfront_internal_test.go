package local

import (
	"context"
	"testing"

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
	batch, closing, _, _ := c.take()
	if closing || len(batch) != 2 || string(batch[0].Data) != `{"type":"authed"}` || batch[1].Index != 1 {
		t.Fatalf("batch %+v", batch)
	}
	select {
	case <-c.wake:
	default:
		t.Fatal("the writer was not woken")
	}
	c.close(4000, "x")
	c.pushFront([]byte(`{"type":"authed"}`)) // closing: nothing queued
	if _, closing, _, _ := c.take(); !closing {
		t.Fatal("not closing")
	}
}

package local

import (
	"context"
	"fmt"
	"testing"

	"github.com/tripsense/tripsense"
)

// TestWrittenBatchIsTheNextQueue: the slice of a batch the writer recorded
// becomes the connection's next queue, emptied (its frames' data is no
// longer held), unless it is over maxSpareFrames; a closed connection keeps
// none. Frames queued into it come out whole and in order.
func TestWrittenBatchIsTheNextQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := queueLimits{frames: 64, waitBytes: 1 << 20}
	frames := func(first, n int) []tripsense.Outbound {
		outs := make([]tripsense.Outbound, n)
		for i := range outs {
			outs[i] = tripsense.Outbound{Data: fmt.Appendf(nil, `{"index":%d}`, first+i), Room: "r", Index: int64(first + i)}
		}
		return outs
	}
	senders := make([]string, maxSpareFrames+1)
	for i := range senders {
		senders[i] = "someone else"
	}

	c := newConn(tripsense.Connection{ID: "c", UserID: "u"})
	c.enqueueBatch(frames(1, 3), senders[:3], lim)
	job, batch, _, _ := c.next()
	if job != jobBatch || len(batch) != 3 {
		t.Fatalf("job %v, batch %+v", job, batch)
	}
	c.recordBatch(batch, true)
	for i, f := range batch {
		if f.Data != nil || f.Room != "" {
			t.Fatalf("frame %d of the recorded batch still holds %q: the spare keeps data alive", i, f.Data)
		}
	}
	if err := c.enqueue(ctx, frames(4, 1)[0], lim); err != nil {
		t.Fatal(err)
	}
	c.enqueueBatch(frames(5, 2), senders[:2], lim)
	job, next, _, _ := c.next()
	if job != jobBatch || len(next) != 3 {
		t.Fatalf("job %v, batch %+v", job, next)
	}
	if &next[0] != &batch[:1][0] {
		t.Error("the next queue did not reuse the written batch's slice")
	}
	for i, f := range next {
		if want := fmt.Sprintf(`{"index":%d}`, 4+i); string(f.Data) != want || f.Index != int64(4+i) {
			t.Fatalf("frame %d is %q (index %d), want %s", i, f.Data, f.Index, want)
		}
	}
	c.recordBatch(next, true)

	// A batch over the bound is not kept.
	big := newConn(tripsense.Connection{ID: "b", UserID: "u"})
	big.enqueueBatch(frames(1, maxSpareFrames+1), senders, lim)
	_, batch, _, _ = big.next()
	big.recordBatch(batch, true)
	if big.spare != nil {
		t.Errorf("kept a spare of %d frames, over maxSpareFrames (%d)", cap(big.spare), maxSpareFrames)
	}

	// Nor is any once the connection closes.
	c.close(4000, "x")
	if c.spare != nil {
		t.Error("a closed connection kept its spare queue")
	}
}

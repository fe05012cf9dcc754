package ws

import (
	"context"
	"sync"
	"testing"
	"time"
)

// waitingFor waits until index is offered in q (its handOut follows).
func waitingFor(t *testing.T, q *roomSeq, index int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		_, ok := q.ready[index]
		q.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index %d never waited", index)
		}
		time.Sleep(time.Millisecond) // poll interval, bounded by the deadline
	}
}

// recorder collects the indexes handed out, in order.
type recorder struct {
	mu  sync.Mutex
	got []int64
}

func (r *recorder) fan(run []fanItem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range run {
		r.got = append(r.got, it.index)
	}
}

func (r *recorder) order() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.got...)
}

// enterN enters n sends to room "r" of o (head 0) and returns the room and
// their entry numbers.
func enterN(t *testing.T, o *roomOrder, n int) (*roomSeq, []int64) {
	t.Helper()
	var q *roomSeq
	var entries []int64
	for range n {
		var e int64
		var err error
		if q, e, err = o.enter("r", func() (int64, error) { return 0, nil }); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	return q, entries
}

// TestOrderGivesUpALostIndexOnlyFromTheLowestWaiter: index 1 is lost (its
// send failed after the commit); 3 starts waiting before 2. When the lost
// send resolves, 2 must still go out before 3.
func TestOrderGivesUpALostIndexOnlyFromTheLowestWaiter(t *testing.T) {
	t.Parallel()
	var o roomOrder
	q, e := enterN(t, &o, 3) // e[0] holds 1 (it fails), e[1] holds 2, e[2] holds 3
	var r recorder
	var wg sync.WaitGroup
	pub := func(i, entry int64) {
		defer wg.Done()
		bound, _ := q.offer(fanItem{index: i}, entry)
		o.handOut(q, i, bound, r.fan)
	}
	wg.Add(2)
	go pub(3, e[2])
	waitingFor(t, q, 3)
	go pub(2, e[1])
	waitingFor(t, q, 2)
	q.resolve(e[0])
	wg.Wait()
	if got := r.order(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("fan-out order %v, want [2 3]", got)
	}
}

// TestOrderWaitsForASlowSend: index 2 is ready while the send that holds
// index 1 has not returned from its Append (slow, not failed): 2 waits,
// without a time limit, and goes out after 1.
func TestOrderWaitsForASlowSend(t *testing.T) {
	t.Parallel()
	var o roomOrder
	q, e := enterN(t, &o, 2)
	var r recorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		bound, _ := q.offer(fanItem{index: 2}, e[1])
		o.handOut(q, 2, bound, r.fan)
	}()
	waitingFor(t, q, 2)
	// The old hand-out gave up after 250 ms; wait longer than that for
	// what must not happen.
	select {
	case <-done:
		t.Fatalf("index 2 went out (%v) while the send of index 1 was in flight", r.order())
	case <-time.After(400 * time.Millisecond):
	}
	bound, _ := q.offer(fanItem{index: 1}, e[0])
	o.handOut(q, 1, bound, r.fan)
	<-done
	if got := r.order(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("fan-out order %v, want [1 2]", got)
	}
}

// TestOrderDoesNotWaitForLaterSends: a gap is given up once every send
// that entered before the waiting index was offered is resolved, even
// while sends that entered later are still in flight (they cannot hold a
// lower index).
func TestOrderDoesNotWaitForLaterSends(t *testing.T) {
	t.Parallel()
	var o roomOrder
	q, e := enterN(t, &o, 2) // e[0] holds 1 and fails, e[1] holds 2
	var r recorder
	bound, _ := q.offer(fanItem{index: 2}, e[1])
	_, _ = enterN(t, &o, 1) // a later send, still in Append
	q.resolve(e[0])
	o.handOut(q, 2, bound, r.fan) // returns: the later send is not waited for
	if got := r.order(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("fan-out order %v, want [2]", got)
	}
}

// TestOrderPublishesInOrderWithoutGaps: many publishers in random order.
func TestOrderPublishesInOrderWithoutGaps(t *testing.T) {
	t.Parallel()
	var o roomOrder
	var q *roomSeq
	entries := make(map[int64]int64)
	for i := int64(11); i <= 30; i++ {
		var err error
		if q, entries[i], err = o.enter("r", func() (int64, error) { return 10, nil }); err != nil {
			t.Fatal(err)
		}
	}
	var r recorder
	var wg sync.WaitGroup
	for i := int64(30); i > 10; i-- {
		wg.Go(func() {
			bound, _ := q.offer(fanItem{index: i}, entries[i])
			o.handOut(q, i, bound, r.fan)
		})
	}
	wg.Wait()
	got := r.order()
	for k, v := range got {
		if v != int64(11+k) {
			t.Fatalf("order %v", got)
		}
	}
	for range entries {
		o.leave("r", q)
	}
	if len(o.rooms) != 0 {
		t.Fatalf("room state kept after the last send left: %v", o.rooms)
	}
}

// released waits until c is released (awaitOriginal releases its own
// claim in the same critical section in which it takes its snapshot).
func released(t *testing.T, q *roomSeq, c *claim) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		done := c.done
		q.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("claim never released")
		}
		time.Sleep(time.Millisecond) // poll interval, bounded by the deadline
	}
}

// TestDuplicateWaitsForEarlierClaimsOnly: a duplicate waits for the sends
// of its key that claimed before it learnt it was a duplicate (one of them
// is the original), not for retries that came later, nor for other keys.
func TestDuplicateWaitsForEarlierClaimsOnly(t *testing.T) {
	t.Parallel()
	var o roomOrder
	q, _, _ := o.enter("r", func() (int64, error) { return 0, nil })
	original := q.claim("u", "k")
	other := q.claim("u", "other key")
	sameIDOtherUser := q.claim("v", "k")
	dup := q.claim("u", "k")
	done := make(chan error, 1)
	go func() { done <- q.awaitOriginal(context.Background(), dup) }()
	released(t, q, dup)
	later := q.claim("u", "k") // a retry after the message was stored
	select {
	case err := <-done:
		t.Fatalf("the duplicate went ahead (%v) while the original was in flight", err)
	default:
	}
	q.release(original)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the duplicate still waits after the original released")
	}
	for _, c := range []*claim{later, other, sameIDOtherUser} {
		q.release(c)
		q.release(c) // twice does nothing
	}
	if len(q.keyed) != 0 {
		t.Fatalf("key state kept after every claim ended: %v", q.keyed)
	}
	if q.claim("u", "") != nil {
		t.Fatal("a send without clientMsgId claimed a key")
	}
}

// TestDuplicateWaitIsBoundedByItsContext: if the original never finishes,
// the duplicate gives up with its frame's context.
func TestDuplicateWaitIsBoundedByItsContext(t *testing.T) {
	t.Parallel()
	var o roomOrder
	q, _, _ := o.enter("r", func() (int64, error) { return 0, nil })
	q.claim("u", "k") // never released
	dup := q.claim("u", "k")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.awaitOriginal(ctx, dup); err != context.Canceled {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

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

// TestOrderGivesUpALostIndexOnlyFromTheLowestWaiter: index 1 is lost (its
// send failed after the commit); 3 starts waiting before 2. When the wait
// runs out, 2 must still go out before 3.
func TestOrderGivesUpALostIndexOnlyFromTheLowestWaiter(t *testing.T) {
	t.Parallel()
	var o roomOrder
	q, _ := o.enter("r", func() (int64, error) { return 0, nil })
	var mu sync.Mutex
	var got []int64
	record := func(run []fanItem) {
		mu.Lock()
		for _, it := range run {
			got = append(got, it.index)
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	pub := func(i int64) {
		defer wg.Done()
		q.offer(fanItem{index: i})
		o.handOut(q, i, record)
	}
	wg.Add(2)
	go pub(3)
	waitingFor(t, q, 3)
	go pub(2)
	wg.Wait()
	if len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("fan-out order %v, want [2 3]", got)
	}
}

// TestOrderPublishesInOrderWithoutGaps: many publishers in random order.
func TestOrderPublishesInOrderWithoutGaps(t *testing.T) {
	t.Parallel()
	var o roomOrder
	q, _ := o.enter("r", func() (int64, error) { return 10, nil })
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for i := int64(30); i > 10; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.offer(fanItem{index: i})
			o.handOut(q, i, func(run []fanItem) {
				mu.Lock()
				for _, it := range run {
					got = append(got, it.index)
				}
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	for k, v := range got {
		if v != int64(11+k) {
			t.Fatalf("order %v", got)
		}
	}
	o.leave("r", q)
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
	q, _ := o.enter("r", func() (int64, error) { return 0, nil })
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
	q, _ := o.enter("r", func() (int64, error) { return 0, nil })
	q.claim("u", "k") // never released
	dup := q.claim("u", "k")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.awaitOriginal(ctx, dup); err != context.Canceled {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

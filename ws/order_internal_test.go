package ws

import (
	"sync"
	"testing"
	"time"
)

// waitingFor waits until index is registered as waiting in q.
func waitingFor(t *testing.T, q *roomSeq, index int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		_, ok := q.waiting[index]
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
	var wg sync.WaitGroup
	pub := func(i int64) {
		defer wg.Done()
		o.publish(q, i, func() { mu.Lock(); got = append(got, i); mu.Unlock() })
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
			o.publish(q, i, func() { mu.Lock(); got = append(got, i); mu.Unlock() })
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

package local_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// TestUnreadSyncHoldsItsByteBudget: a sync to a client that reads nothing
// holds about its byte budget (local.DefaultSyncQueueBytes) of frames on the
// heap, not half the queue's 1024 frames of up to 32 KiB each. The client's
// socket receive buffer is small; what the kernel's send buffer takes (up to
// a few MiB) is not heap. Not parallel: it measures the process's heap.
func TestUnreadSyncHoldsItsByteBudget(t *testing.T) {
	f := newFixture(t, 0, ws.Replace, map[string][]string{"room": {"a", "b"}}) // default queue limit
	waiting := make(chan struct{})
	var once sync.Once
	local.SetOnWait(f.hub, func() { once.Do(func() { close(waiting) }) })
	ctx := context.Background()
	// 16 MB of messages: more than the kernel buffers and the budget take
	// together, less than half the queue's frames would hold.
	const missed, size = 2000, 8000
	for range missed {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "room", UserID: "a", Body: strings.Repeat("x", size), Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// The live heap: the least of a few collections' results, since
	// whatever runs between a collection and the reading (the writer may
	// get a little more into the socket, the sync encodes its next frame)
	// counts in HeapAlloc until the next collection.
	heap := func() int64 {
		least := int64(-1)
		for range 3 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if least < 0 || int64(ms.HeapAlloc) < least {
				least = int64(ms.HeapAlloc)
			}
		}
		return least
	}
	before := heap()
	b := dialSmallReceiveBuffer(t, f.url, "b")
	defer b.CloseNow()
	write(t, b, `{"action":"sync"}`)
	const slack = 2 << 20 // the store's 200-message page, buffers, goroutines
	limit := int64(local.DefaultSyncQueueBytes + slack)
	// Until the sync waits, the heap it holds is checked as it grows: a
	// sync bounded only in frames queues all of this before it would wait
	// (and the write timeout later frees it).
	deadline := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case <-waiting:
			done = true
		case <-deadline:
			t.Fatal("timed out waiting for the sync to wait for its client")
		case <-time.After(50 * time.Millisecond): // poll interval, bounded by the deadline
			if grew := heap() - before; grew > limit {
				t.Fatalf("the sync holds %.1f MiB of heap for a client that reads nothing, over %.1f MiB", float64(grew)/(1<<20), float64(limit)/(1<<20))
			}
		}
	}
	grew := heap() - before
	t.Logf("heap grew by %.2f MiB while the sync waits for a client that reads nothing (limit %.1f MiB)", float64(grew)/(1<<20), float64(limit)/(1<<20))
	if grew > limit {
		t.Fatalf("the waiting sync holds %.1f MiB of heap, over %.1f MiB", float64(grew)/(1<<20), float64(limit)/(1<<20))
	}
}

package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
)

// BenchmarkPipelinedAppend is the store's side of the load generator's
// peer shapes: a few producers, each with up to window appends queued
// (bolt.AppendQueued, as ws.Pipeline does), spread over rooms rooms, each
// send with its own clientMsgId. It reports appends/s, writes per commit
// and commits/s; the appends are durable (synced) unless nosync.
func BenchmarkPipelinedAppend(b *testing.B) {
	for _, c := range []struct {
		producers, window, rooms int
		nosync                   bool
		ids                      string
	}{
		{4, 256, 4, false, "seq"}, {4, 256, 4, false, "slots"}, {4, 256, 4, false, "random"},
		{100, 256, 100, false, "slots"}, {4, 256, 4, true, "slots"}, {1, 256, 1, false, "slots"},
	} {
		name := fmt.Sprintf("producers=%d/window=%d/rooms=%d/ids=%s", c.producers, c.window, c.rooms, c.ids)
		if c.nosync {
			name += "/nosync"
		}
		b.Run(name, func(b *testing.B) {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "p.db"), bolt.Options{NoSync: c.nosync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			body := "a chat message of about two hundred bytes, which is what the load generator's peer presets send: " +
				"enough text for a sentence or two of an ordinary conversation between people in a room......"
			per := (b.N + c.producers - 1) / c.producers
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for p := range c.producers {
				wg.Go(func() {
					user := fmt.Sprintf("user-%03d", p)
					inflight := make(chan tripsense.QueuedAppend, c.window)
					var rwg sync.WaitGroup
					rwg.Go(func() {
						for result := range inflight {
							if _, dup, err := result.Result(); err != nil || dup {
								b.Errorf("append: dup=%v err=%v", dup, err)
							}
						}
					})
					for i := range per {
						result := s.AppendQueued(context.Background(), tripsense.NewMessage{
							Room: fmt.Sprintf("room-%03d", p%c.rooms), UserID: user, Body: body, Type: "text message",
							CreateTime: time.Now(), ClientMsgID: clientMsgID(c.ids, p, i, c.window)})
						inflight <- result
					}
					close(inflight)
					rwg.Wait()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			n := per * c.producers
			st := s.Stats()
			b.ReportMetric(float64(n)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/append")
			if st.Commits > 0 {
				b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
				b.ReportMetric(float64(st.Commits)/elapsed.Seconds(), "commits/s")
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far: per append,
// it is what the store costs whatever else shares the machine's cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clientMsgID is the i-th clientMsgId of producer p: "seq" counts up
// (consecutive ids sort next to each other, the kindest case for the dedupe
// index), "slots" is the load generator's sender.slot.seq (window slots
// interleave), "random" is a random UUID-like id (what most apps send).
func clientMsgID(kind string, p, i, window int) string {
	switch kind {
	case "seq":
		return fmt.Sprintf("c-%d-%09d", p, i)
	case "slots":
		return fmt.Sprintf("%d.%d.%d", p, i%window, i/window)
	default:
		return fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
	}
}

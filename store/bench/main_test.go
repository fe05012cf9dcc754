package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
)

// scratch is a directory removed when the benchmarks end; it holds data
// built once and shared by several benchmarks.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tripsense-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// appender is the write side under test.
type appender interface {
	Append(ctx context.Context, m tripsense.NewMessage) (tripsense.Message, bool, error)
	Close() error
}

var senderCounts = []int{1, 16, 64}

// benchAppend measures durable appends to one room (the worst case: every
// send contends for the same index) from senders goroutines, each send with
// its own clientMsgId so the dedupe record is written too. open gets the
// number of senders (for engines tuned to it). It reports sends/s.
func benchAppend(b *testing.B, open func(b *testing.B, senders int) appender) {
	for _, senders := range senderCounts {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			s := open(b, senders)
			defer s.Close()
			body := "a typical chat message of about sixty bytes, give or take.."
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for u := range senders {
				wg.Go(func() {
					user := fmt.Sprintf("user-%02d", u)
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						_, dup, err := s.Append(context.Background(), tripsense.NewMessage{Room: "room-1", UserID: user,
							Body: body, Type: "text message", CreateTime: time.Now(), ClientMsgID: fmt.Sprintf("c-%d", i)})
						if err != nil || dup {
							b.Errorf("Append: dup=%v err=%v", dup, err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
			if st, ok := s.(interface{ Stats() bolt.Stats }); ok && st.Stats().Commits > 0 {
				b.ReportMetric(float64(st.Stats().Writes)/float64(st.Stats().Commits), "writes/commit")
			}
		})
	}
}

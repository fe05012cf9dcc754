package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
)

const (
	smallRoom, smallRoomSize = "room-1k", 1_000
	bigRoom, bigRoomSize     = "room-1m", 1_000_000
	catchUpPage              = 100
)

var (
	catchUpOnce sync.Once
	catchUpPath string
	catchUpErr  error
)

// catchUpStore returns a store (opened durably) holding a room of 1,000 and
// a room of 1,000,000 messages. The file is built once per process with
// NoSync and many concurrent senders, so commits are large and unsynced.
func catchUpStore(b *testing.B) *bolt.Store {
	b.Helper()
	catchUpOnce.Do(func() {
		catchUpPath = filepath.Join(scratch, "catchup.db")
		start := time.Now()
		catchUpErr = fill(catchUpPath, map[string]int{bigRoom: bigRoomSize, smallRoom: smallRoomSize})
		b.Logf("built rooms of %d and %d messages in %v", bigRoomSize, smallRoomSize, time.Since(start).Round(time.Millisecond))
	})
	if catchUpErr != nil {
		b.Fatal(catchUpErr)
	}
	s, err := bolt.Open(catchUpPath, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func fill(path string, rooms map[string]int) error {
	s, err := bolt.Open(path, bolt.Options{NoSync: true, MaxBatch: 4096, MaxBatchDelay: -1})
	if err != nil {
		return err
	}
	const senders = 512
	var firstErr atomic.Value
	for room, n := range rooms {
		var next atomic.Int64
		var wg sync.WaitGroup
		for u := range senders {
			wg.Go(func() {
				m := tripsense.NewMessage{Room: room, UserID: fmt.Sprintf("user-%03d", u), Type: "text message",
					Body: "a typical chat message of about sixty bytes, give or take..", CreateTime: time.Now()}
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					if _, _, err := s.Append(context.Background(), m); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	if err := s.Close(); err != nil {
		return err
	}
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return nil
}

// BenchmarkCatchUp reads one catch-up page (100 messages after a cursor)
// from a room of 1,000 and of 1,000,000 messages: at the tail (the usual
// catch-up) and at a random position. The cost must not depend on the
// room's size.
func BenchmarkCatchUp(b *testing.B) {
	s := catchUpStore(b)
	ctx := context.Background()
	for _, room := range []struct {
		name string
		size int64
	}{{smallRoom, smallRoomSize}, {bigRoom, bigRoomSize}} {
		if head, err := s.Head(ctx, room.name); err != nil || head != room.size {
			b.Fatalf("Head(%s) = %d, %v; want %d", room.name, head, err, room.size)
		}
		for _, pos := range []string{"tail", "random"} {
			b.Run(fmt.Sprintf("room=%s/pos=%s", room.name[len("room-"):], pos), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				b.ReportAllocs()
				for b.Loop() {
					after := room.size - catchUpPage
					if pos == "random" {
						after = rng.Int64N(room.size - catchUpPage)
					}
					msgs, err := s.MessagesAfter(ctx, room.name, after, catchUpPage)
					if err != nil || len(msgs) != catchUpPage || msgs[0].Index != after+1 {
						b.Fatalf("MessagesAfter(%d) = %d messages, %v", after, len(msgs), err)
					}
				}
			})
		}
	}
}

package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestDedupeExpiresAfterTTLAndIsPruned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{Now: clock.Now, DedupePruneInterval: 365 * 24 * time.Hour})
	t.Cleanup(func() { _ = s.Close() })
	nm := tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: "c-1"}
	storetest.MustAppendNew(t, s, nm)
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: "c-2"})

	clock.Advance(tripsense.DedupeTTL - time.Millisecond)
	if n, err := s.PruneDedupe(ctx, clock.Now(), 100); err != nil || n != 0 {
		t.Fatalf("PruneDedupe before TTL = %d, %v; want 0", n, err)
	}
	if m, dup := storetest.MustAppend(t, s, nm); !dup || m.Index != 1 {
		t.Fatalf("retry just within TTL: index %d dup %v, want 1 true", m.Index, dup)
	}

	clock.Advance(time.Millisecond)
	// c-1 expired: a send with it is a new message (and replaces the record).
	if m, dup := storetest.MustAppend(t, s, nm); dup || m.Index != 3 {
		t.Fatalf("send after TTL: index %d dup %v, want 3 false", m.Index, dup)
	}
	// Only c-2's record is expired now; c-1's was rewritten.
	if n, err := s.PruneDedupe(ctx, clock.Now(), 100); err != nil || n != 1 {
		t.Fatalf("PruneDedupe after TTL = %d, %v; want 1", n, err)
	}
	if m, dup := storetest.MustAppend(t, s, nm); !dup || m.Index != 3 {
		t.Fatalf("retry of the new c-1: index %d dup %v, want 3 true", m.Index, dup)
	}
	clock.Advance(tripsense.DedupeTTL)
	if n, err := s.PruneDedupe(ctx, clock.Now(), 100); err != nil || n != 1 {
		t.Fatalf("PruneDedupe of the new c-1 = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneDedupe(ctx, clock.Now(), 100); err != nil || n != 0 {
		t.Fatalf("PruneDedupe with nothing left = %d, %v; want 0", n, err)
	}
}

func TestAppendPrunesPeriodically(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "db")
	s := MustOpen(t, path, bolt.Options{Now: clock.Now, DedupePruneInterval: time.Hour})
	for i := range 5 {
		storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: fmt.Sprint(i)})
	}
	clock.Advance(tripsense.DedupeTTL + time.Hour)
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: "new"})
	// The prune was queued by that Append; Close commits what is queued.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = MustOpen(t, path, bolt.Options{Now: clock.Now})
	t.Cleanup(func() { _ = s.Close() })
	if n, err := s.PruneDedupe(context.Background(), clock.Now().Add(tripsense.DedupeTTL), 100); err != nil || n != 1 {
		t.Fatalf("records left = %d, %v; want only the new one", n, err)
	}
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := s.Append(context.Background(), tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
	if !errors.Is(err, bolt.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.AdvanceCursor(context.Background(), "u", "", "r", 1); !errors.Is(err, bolt.ErrClosed) {
		t.Fatalf("AdvanceCursor after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Head(context.Background(), "r"); err == nil {
		t.Fatal("Head after Close: no error")
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{})
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Append(ctx, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append: %v, want context.Canceled", err)
	}
	if _, err := s.MessagesAfter(ctx, "r", 0, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("MessagesAfter: %v, want context.Canceled", err)
	}
	if head := storetest.MustHead(t, s, "r"); head != 0 {
		t.Fatalf("Head = %d, want 0", head)
	}
}

func TestOpenLockedFileTimesOut(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	s := MustOpen(t, path, bolt.Options{})
	t.Cleanup(func() { _ = s.Close() })
	if _, err := bolt.Open(path, bolt.Options{LockTimeout: time.Millisecond}); err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
}

// TestCloseWhileAppending checks that Close waits for the writes it
// accepted: every Append that returned without error is there after reopen,
// and every other one failed with ErrClosed.
func TestCloseWhileAppending(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	s := MustOpen(t, path, bolt.Options{})
	var (
		wg    sync.WaitGroup
		acked atomic.Int64
	)
	firstAcks := make(chan struct{})
	var once sync.Once
	for u := range 20 {
		wg.Go(func() {
			for i := 0; ; i++ {
				_, _, err := s.Append(context.Background(), tripsense.NewMessage{Room: "r", UserID: fmt.Sprint("u", u), Body: "b", Type: "t"})
				if errors.Is(err, bolt.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if acked.Add(1) == 100 {
					once.Do(func() { close(firstAcks) })
				}
			}
		})
	}
	<-firstAcks
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if st := s.Stats(); st.Writes != acked.Load() || st.Commits < 1 || st.Commits > st.Writes {
		t.Fatalf("Stats = %+v, acknowledged appends = %d", st, acked.Load())
	}
	s = MustOpen(t, path, bolt.Options{})
	t.Cleanup(func() { _ = s.Close() })
	if head := storetest.MustHead(t, s, "r"); head != acked.Load() {
		t.Fatalf("Head after reopen = %d, acknowledged appends = %d", head, acked.Load())
	}
}

// Every commit is observed once, with the writes it carried and the pages
// it wrote into bbolt (NoLog) or the bytes it wrote to the log, and the
// observations add up to Stats.
func TestCommitObserver(t *testing.T) {
	for _, noLog := range []bool{true, false} {
		t.Run(fmt.Sprintf("NoLog=%v", noLog), func(t *testing.T) {
			ctx := context.Background()
			// No checkpoint comes between the log's commits here.
			s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{NoLog: noLog, CheckpointInterval: time.Hour})
			defer s.Close()
			var mu sync.Mutex
			var seen []bolt.CommitStats
			before := s.Stats()
			s.ObserveCommits(func(c bolt.CommitStats) {
				mu.Lock()
				seen = append(seen, c)
				mu.Unlock()
			})
			for i := range 3 {
				if _, _, err := s.Append(ctx, tripsense.NewMessage{Room: "r", UserID: "u", Body: fmt.Sprint(i), Type: "text"}); err != nil {
					t.Fatal(err)
				}
			}
			after := s.Stats()
			s.ObserveCommits(nil)
			if _, _, err := s.Append(ctx, tripsense.NewMessage{Room: "r", UserID: "u", Body: "unobserved", Type: "text"}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if int64(len(seen)) != after.Commits-before.Commits || len(seen) < 1 {
				t.Fatalf("%d commits observed, Stats counted %d", len(seen), after.Commits-before.Commits)
			}
			var writes, pages int64
			for _, c := range seen {
				// A commit into bbolt writes at least one page of data, the
				// freelist and the meta page; one through the log, a frame
				// (a 16-byte header and the message's puts) and no page.
				ok := c.PageWrites >= 3 && c.LogBytes == 0
				if !noLog {
					ok = c.PageWrites == 0 && c.LogBytes > 16
				}
				if c.Writes < 1 || c.Duration <= 0 || !ok {
					t.Errorf("commit %+v", c)
				}
				writes += int64(c.Writes)
				pages += c.PageWrites
			}
			if writes != after.Writes-before.Writes || pages != after.PageWrites-before.PageWrites {
				t.Errorf("observed %d writes and %d pages, Stats counted %d and %d", writes, pages,
					after.Writes-before.Writes, after.PageWrites-before.PageWrites)
			}
			if writes != 3 {
				t.Errorf("observed %d writes, want the 3 appends", writes)
			}
		})
	}
}

// holdAfterFirstCommit stalls s's committer once its first commit is over
// (the commit observer runs on the committer), until release is called:
// everything queued meanwhile waits. writes receives each commit's number
// of writes; held is closed once the committer is held.
func holdAfterFirstCommit(s *bolt.Store) (writes <-chan int, held <-chan struct{}, release func()) {
	w := make(chan int, 1024)
	h := make(chan struct{})
	r := make(chan struct{})
	commits := 0 // only the committer touches it
	s.ObserveCommits(func(c bolt.CommitStats) {
		w <- c.Writes
		if commits++; commits == 1 {
			close(h)
			<-r
		}
	})
	return w, h, sync.OnceFunc(func() { close(r) })
}

// TestCommitSizeAndQueueBounds: a commit carries at most MaxBatch writes of
// what was queued while the committer was busy, the queue holds MaxQueued
// writes beyond the running commit, and a write that finds it full waits
// (bounded by its ctx) without being stored.
func TestCommitSizeAndQueueBounds(t *testing.T) {
	t.Parallel()
	const maxBatch, maxQueued = 8, 32
	s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{MaxBatch: maxBatch, MaxQueued: maxQueued, MaxBatchDelay: -1})
	t.Cleanup(func() { _ = s.Close() })
	observed, held, release := holdAfterFirstCommit(s)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nm := func(i int) tripsense.NewMessage {
		return tripsense.NewMessage{Room: "r", UserID: "u", Body: fmt.Sprint(i), Type: "text", ClientMsgID: fmt.Sprint("c", i)}
	}
	first := s.AppendQueued(ctx, nm(0))
	select {
	case <-held:
		<-observed // the first commit's own writes
	case <-ctx.Done():
		t.Fatal("the first commit never came")
	}
	var queued []tripsense.QueuedAppend
	for i := 1; i <= maxQueued; i++ {
		queued = append(queued, s.AppendQueued(ctx, nm(i)))
	}
	if st := s.Stats(); st.Queued != maxQueued {
		t.Fatalf("Stats says %d writes queued, want %d", st.Queued, maxQueued)
	}
	// The queue is full: one more write waits for room until its ctx ends.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	over := s.AppendQueued(short, nm(maxQueued+1))
	if _, _, err := over.Result(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a write past MaxQueued: %v, want it to wait for room until its ctx ended", err)
	}
	cancelShort()
	release()
	if m, _, err := first.Result(); err != nil || m.Index != 1 {
		t.Fatalf("first append: %+v, %v", m, err)
	}
	for i, q := range queued {
		if m, dup, err := q.Result(); err != nil || dup || m.Index != int64(i+2) {
			t.Fatalf("queued append %d: index %d, dup %v, %v; want index %d", i+1, m.Index, dup, err, i+2)
		}
	}
	for want := maxQueued; want > 0; want -= maxBatch {
		if got := <-observed; got != min(want, maxBatch) {
			t.Fatalf("a commit carried %d writes, want %d: the %d queued writes in commits of at most %d", got, min(want, maxBatch), maxQueued, maxBatch)
		}
	}
	if h, err := s.Head(ctx, "r"); err != nil || h != maxQueued+1 {
		t.Fatalf("head %d, %v; want %d: the write that found the queue full was not stored", h, err, maxQueued+1)
	}
	if st := s.Stats(); st.Queued != 0 || st.QueuedBytes != 0 {
		t.Fatalf("Stats says %d writes and %d bytes queued once every write is over, want none", st.Queued, st.QueuedBytes)
	}
}

// TestQueuedBytesBound: the messages queued for the committer or in its
// commit hold at most MaxQueuedBytes; an append whose message does not fit
// waits (bounded by its ctx) without being stored, small ones still fit
// until then, and a message larger than the whole budget is still taken.
func TestQueuedBytesBound(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("b", 4000) // its encoded message is a little over 4,000 bytes
	s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{MaxQueuedBytes: 10_000, MaxBatchDelay: -1})
	t.Cleanup(func() { _ = s.Close() })
	_, held, release := holdAfterFirstCommit(s)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nm := func(i int, body string) tripsense.NewMessage {
		return tripsense.NewMessage{Room: "r", UserID: "u", Body: body, Type: "text", ClientMsgID: fmt.Sprint("c", i)}
	}
	// The first commit holds one large message and is held after its
	// write: its bytes still count until it is over.
	first := s.AppendQueued(ctx, nm(0, body))
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the first commit never came")
	}
	second := s.AppendQueued(ctx, nm(1, body)) // about 8,100 of 10,000 bytes now
	small := s.AppendQueued(ctx, nm(2, "hi"))  // a small one still fits
	if b := s.Stats().QueuedBytes; b < 8000 || b > 10_000 {
		t.Fatalf("Stats says %d bytes queued, want the two large messages and the small one (8,000 to 10,000)", b)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	over := s.AppendQueued(short, nm(3, body))
	if _, _, err := over.Result(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a message past MaxQueuedBytes: %v, want it to wait for room until its ctx ended", err)
	}
	cancelShort()
	release()
	for i, q := range []tripsense.QueuedAppend{first, second, small} {
		if m, _, err := q.Result(); err != nil || m.Index != int64(i+1) {
			t.Fatalf("append %d: index %d, %v; want %d", i, m.Index, err, i+1)
		}
	}
	// Once the commits are over, their bytes are back: a message larger
	// than the whole budget is taken too.
	if m, _, err := s.Append(ctx, nm(4, strings.Repeat("x", 12_000))); err != nil || m.Index != 4 {
		t.Fatalf("a message over the budget: index %d, %v; want 4", m.Index, err)
	}
	if h, err := s.Head(ctx, "r"); err != nil || h != 4 {
		t.Fatalf("head %d, %v; want 4: the write that found no room was not stored", h, err)
	}
	if b := s.Stats().QueuedBytes; b != 0 {
		t.Fatalf("Stats says %d bytes queued once every append is over, want 0", b)
	}
}

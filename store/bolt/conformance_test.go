package bolt_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// MustOpen opens the store at path with opts and fails tb on error.
func MustOpen(tb testing.TB, path string, opts bolt.Options) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

// The store's conformance, with the write-ahead log (the default) and with
// every write committed into bbolt itself (NoLog).
func TestConformance(t *testing.T) { runConformance(t, bolt.Options{}) }

func TestConformanceNoLog(t *testing.T) { runConformance(t, bolt.Options{NoLog: true}) }

func runConformance(t *testing.T, opts bolt.Options) {
	storetest.RunOptions{
		Reopen: true,
		Epoch:  func(_ *testing.T, s tripsense.Store) string { return s.(*bolt.Store).Epoch() },
		// An online backup of the open store, restored into another file.
		Restore: func(t *testing.T, s tripsense.Store) storetest.Opener {
			dir := t.TempDir()
			backup, path := filepath.Join(dir, "backup.db"), filepath.Join(dir, "restored.db")
			f, err := os.Create(backup)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.(*bolt.Store).Backup(f, nil); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := bolt.Restore(path, backup, time.Now()); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T) tripsense.Store { return MustOpen(t, path, opts) }
		},
	}.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "tripsense.db")
		return func(t *testing.T) tripsense.Store { return MustOpen(t, path, opts) }
	})
}

func TestRoomsAndOutbox(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tripsense.db")
	s := MustOpen(t, path, bolt.Options{Outbox: true})
	storetest.RunRoomsAndOutbox(t, s, func() storetest.Outboxed {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = MustOpen(t, path, bolt.Options{Outbox: true})
		return s
	})
	_ = s.Close()
}

// TestNoOutboxWithoutWebhooks: a store opened without Outbox records none.
func TestNoOutboxWithoutWebhooks(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, filepath.Join(t.TempDir(), "tripsense.db"), bolt.Options{})
	t.Cleanup(func() { _ = s.Close() })
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
	if got, err := s.OutboxList(t.Context(), 10); err != nil || len(got) != 0 {
		t.Fatalf("outbox = %v %v", got, err)
	}
}

// TestOutboxBacklog: the counts of pending and failed entries and the
// oldest pending entry's creation time.
func TestOutboxBacklog(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, filepath.Join(t.TempDir(), "tripsense.db"), bolt.Options{Outbox: true})
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	if p, f, oldest, err := s.OutboxBacklog(ctx); err != nil || p != 0 || f != 0 || !oldest.IsZero() {
		t.Fatalf("empty outbox: %d %d %v %v", p, f, oldest, err)
	}
	for range 3 {
		storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
	}
	es, err := s.OutboxList(ctx, 10)
	if err != nil || len(es) != 3 {
		t.Fatalf("outbox %v %v", es, err)
	}
	es[0].Failed = true // the oldest fails for good: the second is the oldest pending
	if err := s.OutboxUpdate(ctx, es[0]); err != nil {
		t.Fatal(err)
	}
	p, f, oldest, err := s.OutboxBacklog(ctx)
	if err != nil || p != 2 || f != 1 || !oldest.Equal(es[1].CreatedAt) {
		t.Fatalf("backlog %d pending, %d failed, oldest %v (want %v), %v", p, f, oldest, es[1].CreatedAt, err)
	}
}

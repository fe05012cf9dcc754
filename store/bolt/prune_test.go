package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// countKeys counts the keys of bucket in the (closed) store file at path.
func countKeys(t *testing.T, path, bucket string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	if err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPruneKeepsUpWithTheSendRate: expired dedupe records are deleted as
// fast as new ones are written, however many per prune interval (the
// prune used to delete at most 1,000 records per interval, one minute, so
// above ~16 sends/s with clientMsgId the records piled up for ever).
func TestPruneKeepsUpWithTheSendRate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "db")
	s := MustOpen(t, path, bolt.Options{Now: clock.Now, DedupePruneInterval: time.Hour})
	const n = 3000
	send := func(prefix string) {
		for i := range n {
			storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: fmt.Sprint("r", i%7), UserID: "u", Body: "b", Type: "t",
				ClientMsgID: fmt.Sprint(prefix, i)})
		}
	}
	send("old-")
	clock.Advance(tripsense.DedupeTTL + time.Millisecond) // every old record expired; the interval not yet over
	send("new-")
	if err := s.Close(); err != nil { // commits the prunes still queued
		t.Fatal(err)
	}
	if got := countKeys(t, path, "dedupe"); got != n {
		t.Fatalf("%d dedupe records left, want the %d new ones", got, n)
	}
}

// TestPruneScanWrapsAround: prunes smaller than the records resume where
// the last one stopped and wrap around, so repeated small prunes delete
// every expired record, and a record within its TTL is never deleted.
func TestPruneScanWrapsAround(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "db")
	s := MustOpen(t, path, bolt.Options{Now: clock.Now, DedupePruneInterval: 365 * 24 * time.Hour})
	for i := range 50 {
		storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: fmt.Sprintf("a%02d", i)})
	}
	clock.Advance(time.Hour)
	for i := range 50 { // interleaved in key order with the first ones
		storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: fmt.Sprintf("a%02dx", i)})
	}
	clock.Advance(tripsense.DedupeTTL - time.Hour + time.Millisecond) // the first 50 expired
	deleted := 0
	for range 30 { // 30 prunes of 7 records examine all 100 twice over
		n, err := s.PruneDedupe(ctx, clock.Now(), 7)
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
	}
	if deleted != 50 {
		t.Fatalf("deleted %d, want the 50 expired", deleted)
	}
	if m, dup := storetest.MustAppend(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: "a07x"}); !dup || m.Index != 58 {
		t.Fatalf("a retry within its TTL: index %d dup %v, want 58 true", m.Index, dup)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countKeys(t, path, "dedupe"); got != 50 {
		t.Fatalf("%d records left, want 50", got)
	}
}

// TestPruneDrainsTheOldTimeIndex: a store written by a version that kept
// a time index of the dedupe records (dedupeByTime) has it emptied by the
// prunes; its records are pruned by the scan like any other.
func TestPruneDrainsTheOldTimeIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "db")
	s := MustOpen(t, path, bolt.Options{Now: clock.Now, DedupePruneInterval: 365 * 24 * time.Hour})
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: "c"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		for i := range 10 {
			if err := tx.Bucket([]byte("dedupeByTime")).Put(fmt.Appendf(nil, "old-key-%d", i), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = MustOpen(t, path, bolt.Options{Now: clock.Now, DedupePruneInterval: 365 * 24 * time.Hour})
	clock.Advance(tripsense.DedupeTTL)
	if n, err := s.PruneDedupe(ctx, clock.Now(), 100); err != nil || n != 1 {
		t.Fatalf("PruneDedupe = %d, %v; want 1", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countKeys(t, path, "dedupeByTime"); got != 0 {
		t.Fatalf("%d keys left in dedupeByTime, want 0", got)
	}
}

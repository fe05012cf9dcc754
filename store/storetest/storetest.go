package storetest

import (
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

// Opener opens a store over one set of underlying data (a file, a set of
// tables). Every call opens the same data again; the suite calls it again
// only after it has closed the store the previous call returned. A store
// that cannot be reopened (memory) may return the same instance each time.
type Opener func(t *testing.T) tripsense.Store

// RunOptions tunes the suite for stores that cannot do everything. The zero
// value runs every subtest except the ones that close and reopen the store;
// Run is RunOptions{Reopen: true}.Run.
type RunOptions struct {
	// Reopen enables the subtests that close the store, open it again with
	// the same Opener and check that everything is still there. Set it for
	// every durable store.
	Reopen bool
	// Processes says the Opener may open the same data again while a store
	// over it is open (DynamoDB: another Lambda process): the concurrency
	// subtests of the lifecycle then spread their writers over that many
	// stores, so a race between processes is tested too.
	Processes int
	// NoRetention skips the retention subtests, for a store that keeps
	// every entry (Oldest is always 1, Prune removes nothing).
	NoRetention bool
	// OpenExpiring, when set, says the store retains by time instead of by
	// Prune (DynamoDB TTL): an entry expires retention after its
	// createTime, by the clock now, and reads ignore it from then on; sweep
	// deletes the expired entries the store lets TTL delete, as TTL does
	// (lazily). The retention subtest then runs on a store opened with it.
	OpenExpiring func(t *testing.T, retention time.Duration, now func() time.Time) (s tripsense.Store, sweep func())
	// Epoch reads a store's epoch (the id clients compare after a restore:
	// docs/operations.md); nil skips the epoch subtest.
	Epoch func(t *testing.T, s tripsense.Store) string
	// Restore copies the data under s (open, in use) to new data as a
	// restore from a backup does (bbolt: an online Backup, then Restore
	// into another file; DynamoDB: new tables holding the items, as a
	// point-in-time restore creates them) and returns an Opener over the
	// copy. nil: the epoch subtest skips its restore half.
	Restore func(t *testing.T, s tripsense.Store) Opener
}

// Run runs the whole suite, including close and reopen. newOpener is called
// once per subtest and must return an Opener over fresh, isolated data;
// subtests run in parallel.
func Run(t *testing.T, newOpener func(t *testing.T) Opener) {
	RunOptions{Reopen: true}.Run(t, newOpener)
}

// Run runs the suite with o (see the package Run).
func (o RunOptions) Run(t *testing.T, newOpener func(t *testing.T) Opener) {
	t.Helper()
	h := &harness{opts: o, newOpener: newOpener}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"AppendConcurrentSendersOneRoom", testAppendConcurrentOneRoom},
		{"AppendConcurrentSendersSeveralRooms", testAppendConcurrentSeveralRooms},
		{"AppendReturnsWhatIsStored", testAppendReturnsStored},
		{"AppendIdempotentRetrySequential", testIdempotentSequential},
		{"AppendIdempotentRetryConcurrent", testIdempotentConcurrent},
		{"AppendClientMsgIDScopedByUserAndRoom", testClientMsgIDScope},
		{"AppendWithoutClientMsgIDNeverDeduped", testNoClientMsgID},
		{"CreateTimeMillisecondPrecision", testCreateTime},
		{"UnicodeAndMaxSizeBodies", testBodies},
		{"MessagesAfterPaging", testMessagesAfter},
		{"MessagesBeforePaging", testMessagesBefore},
		{"EmptyRoom", testEmptyRoom},
		{"Membership", testMembership},
		{"MembershipConcurrent", testMembershipConcurrent},
		{"CursorForwardOnlyAndClamped", testCursorForwardOnly},
		{"CursorEmptyRoom", testCursorEmptyRoom},
		{"CursorConcurrentAdvances", testCursorConcurrent},
		{"Cursors", testCursors},
		{"DeviceCursors", testDeviceCursors},
		{"DeviceCursorsConcurrentAdvances", testDeviceCursorsConcurrent},
		{"ReadCursorForwardOnlyAndClamped", testReadCursorForwardOnly},
		{"ReadCursorApartFromDeliveredCursor", testReadCursorApartFromDelivered},
		{"ReadCursorConcurrentAdvances", testReadCursorConcurrent},
		{"ReadCursorsAndReceipts", testReadCursorsAndReceipts},
		{"ReopenKeepsEverything", testReopen},
		{"EpochStableUntilRestore", testEpoch},
		{"LifecycleRules", testLifecycleRules},
		{"LifecycleIdempotentEvents", testLifecycleIdempotent},
		{"LifecycleConcurrentEditsAndDeletes", testConcurrentEditsAndDeletes},
		{"LifecycleDeleteRacingReactions", testDeleteRacingReactions},
		{"RetentionEdges", testRetentionEdges},
		{"EraseUser", testEraseUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

type harness struct {
	opts      RunOptions
	newOpener func(t *testing.T) Opener
}

// open returns a store over fresh data and its Opener. The store is closed
// when the test ends unless the test closes it first through closeStore.
func (h *harness) open(t *testing.T) (*opened, Opener) {
	t.Helper()
	opener := h.newOpener(t)
	return h.reopen(t, opener), opener
}

func (h *harness) reopen(t *testing.T, opener Opener) *opened {
	t.Helper()
	s := opener(t)
	if s == nil {
		t.Fatal("opener returned a nil store")
	}
	o := &opened{Store: s}
	t.Cleanup(func() {
		if !o.closed {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return o
}

// opened is a store the suite opened and must close exactly once.
type opened struct {
	tripsense.Store
	closed bool
}

func (o *opened) close(t *testing.T) {
	t.Helper()
	o.closed = true
	if err := o.Store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

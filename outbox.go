package tripsense

import (
	"context"
	"strconv"
	"time"
)

// OutboxEntry is one side effect (a webhook event) of one room-log entry,
// recorded in the same commit as the entry (see OutboxStore), with its
// delivery state.
type OutboxEntry struct {
	Seq       uint64 // position in the outbox: recording order
	Room      string
	Index     int64
	CreatedAt time.Time
	Attempts  int       // deliveries tried
	NextAt    time.Time // not before: the backoff
	LastError string    // of the last failed attempt
	Failed    bool      // retries exhausted; only a replay sends it again
}

// EventID is the stable id of the event of (room, index): the webhook-id
// of every attempt, after any restart, on every runtime, so receivers
// dedupe.
func EventID(room string, index int64) string {
	return "evt_" + room + "_" + strconv.FormatInt(index, 10)
}

// OutboxStore is a durable outbox of room-log entries: a store with it
// enabled records an entry for every appended log entry in the append's own
// commit, so a crash right after an ack loses no side effect.
type OutboxStore interface {
	// OutboxDue returns up to limit pending (not Failed) entries due at
	// now (NextAt <= now), oldest first.
	OutboxDue(ctx context.Context, now time.Time, limit int) ([]OutboxEntry, error)
	// OutboxList returns up to limit entries, pending and failed, each
	// kind oldest first (bolt lists the pending ones first).
	OutboxList(ctx context.Context, limit int) ([]OutboxEntry, error)
	// OutboxDone removes the entry seq (delivered). Unknown seq: no error.
	OutboxDone(ctx context.Context, seq uint64) error
	// OutboxUpdate stores e's delivery state (Attempts, NextAt, LastError,
	// Failed) for the entry e.Seq. Unknown seq: no error.
	OutboxUpdate(ctx context.Context, e OutboxEntry) error
	// OutboxReplay makes failed entries pending again, due at now, with
	// their attempts reset: the one with seq, or every failed one when seq
	// is 0. It returns how many.
	OutboxReplay(ctx context.Context, seq uint64, now time.Time) (int, error)
}

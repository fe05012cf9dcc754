package dynamo

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tripsense/tripsense"
)

var _ tripsense.Store = (*Store)(nil)

// Store is a tripsense.Store over DynamoDB tables (see TableSpecs). It is
// safe for concurrent use, also by many processes (Lambda invocations) over
// the same tables: every guarantee rests on single-item conditional writes.
type Store struct {
	db    API
	t     Tables
	cfg   Config
	gates roomGates // one Append per room at a time in this process

	epochMu sync.Mutex
	epoch   string // once read (epoch.go)
}

// New returns a store that uses client for every call. The client is not
// owned: Close does not close it. Call cfg.Validate first to catch missing
// table names.
func New(client API, cfg Config) *Store {
	cfg = cfg.withDefaults()
	return &Store{db: client, t: cfg.Tables, cfg: cfg}
}

// Close releases nothing: the SDK client belongs to the caller and every
// write is durable when its call returns.
func (s *Store) Close() error { return nil }

// pause waits a random time before retry number attempt (full jitter,
// growing to cfg.MaxBackoff), or until ctx ends.
func pause(ctx context.Context, attempt int, ceiling time.Duration) error {
	d := min(time.Millisecond<<min(attempt, 16), ceiling)
	t := time.NewTimer(rand.N(d) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/tripsense/tripsense"
)

// pruneBatch is how many entries one prune commit removes at most, and
// maxPruneBatches how many commits one round runs before it waits for the
// next tick: the pruner never holds the store's committer for long.
const (
	pruneBatch      = 1000
	maxPruneBatches = 100
)

// pruneInterval is how often the pruner runs for a retention r: a tenth of
// it, between one second and one minute.
func pruneInterval(r time.Duration) time.Duration {
	return min(max(r/10, time.Second), time.Minute)
}

// runPruner removes entries older than retention from st until ctx ends
// (LifecycleStore.Prune: oldest first per room; a room's oldest kept index
// is recorded, so a catch-up from before it answers "truncated"). It does
// nothing when retention is 0.
func runPruner(ctx context.Context, st tripsense.LifecycleStore, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(pruneInterval(retention))
	defer t.Stop()
	for {
		pruneOnce(ctx, st, time.Now().Add(-retention), log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOnce runs one round of pruning: commits of pruneBatch until one
// removes less, at most maxPruneBatches.
func pruneOnce(ctx context.Context, st tripsense.LifecycleStore, cutoff time.Time, log *slog.Logger) int {
	total := 0
	for range maxPruneBatches {
		n, err := st.Prune(ctx, cutoff, pruneBatch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("retention: prune", "err", err)
			}
			break
		}
		if n < pruneBatch {
			break
		}
	}
	if total > 0 {
		log.Info("retention: removed old entries", "entries", total, "before", cutoff.UTC().Format(time.RFC3339))
	}
	return total
}

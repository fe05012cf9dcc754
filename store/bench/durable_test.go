package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tripsense/tripsense/store/bolt"
)

// BenchmarkDurableAppend compares durable appends (fsync on commit; index
// allocation, dedupe record and message in one atomic write) across engines.
func BenchmarkDurableAppend(b *testing.B) {
	// store/bolt: bbolt behind the store's committer (the writes queued
	// during a commit go in the next one, plus the writers of the previous
	// commit if they come back within MaxBatchDelay).
	b.Run("engine=bolt", func(b *testing.B) {
		benchAppend(b, func(b *testing.B, _ int) appender {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "tripsense.db"), bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		})
	})
	// store/bolt without the wait for the previous commit's writers
	// (Options.MaxBatchDelay < 0): a batch is only what queued during the
	// previous commit.
	b.Run("engine=bolt-nowait", func(b *testing.B) {
		benchAppend(b, func(b *testing.B, _ int) appender {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "tripsense.db"), bolt.Options{MaxBatchDelay: -1})
			if err != nil {
				b.Fatal(err)
			}
			return s
		})
	})
	// The same transaction through bbolt's db.Batch with its defaults
	// (MaxBatchSize 1000, MaxBatchDelay 10ms) ...
	b.Run("engine=bbolt-dbBatch-default", func(b *testing.B) {
		benchAppend(b, func(b *testing.B, _ int) appender { return openBatchAppender(b, 0, 0) })
	})
	// ... and tuned as the design notes say: MaxBatchSize = senders, 200µs delay.
	b.Run("engine=bbolt-dbBatch-tuned", func(b *testing.B) {
		benchAppend(b, func(b *testing.B, senders int) appender {
			return openBatchAppender(b, senders, 200*time.Microsecond)
		})
	})
	// pebble: the same records in one pebble.Batch with a synced WAL; group
	// commit through ApplyNoSyncWait/SyncWait.
	b.Run("engine=pebble", func(b *testing.B) {
		benchAppend(b, func(b *testing.B, _ int) appender { return openPebbleAppender(b) })
	})
}

package bolt

import (
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// PutRawMessageForTest writes value as the message index of room,
// bypassing the codec (to plant a corrupt record).
func PutRawMessageForTest(s *Store, room string, index int64, value []byte) error {
	return s.write(context.Background(), "test put", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMessages).Put(messageKey(room, index), value)
	})
}

// DedupeRecordsForTest counts the dedupe records.
func DedupeRecordsForTest(s *Store) (int, error) {
	n := 0
	err := s.view("test count", func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketDedupe).Stats().KeyN
		return nil
	})
	return n, err
}

// SetBeforeCheckpointForTest makes every checkpoint that commits in the
// background call fn first (in its goroutine). Set it before the store's
// first write.
func SetBeforeCheckpointForTest(s *Store, fn func()) {
	s.wal.beforeCommit = fn
}

// QueuePruneForTest queues a prune of the dedupe records at now as
// appends queue one, and returns a channel closed with its outcome.
func QueuePruneForTest(s *Store, now time.Time) <-chan error {
	o := s.queuePrune(context.Background(), now.UnixMilli(), maxPruneExamined)
	c := make(chan error, 1)
	go func() {
		<-o.done
		c <- o.err
	}()
	return c
}

// MmapSizeForTest is the memory map a store file of size bytes starts with.
func MmapSizeForTest(least, size int64) int64 { return int64(mmapSize(int(least), size)) }

//go:build tripsense_syncexp

package bolt

// The durability experiments of docs/benchmarks.md ("What durability
// costs"): a build with the tag tripsense_syncexp reads
// TRIPSENSE_EXPERIMENT_SYNC at Open and, but for checkpoint-nosync, turns
// the write-ahead log off and replaces bbolt's two fdatasyncs per commit
// with
//
//	checkpoint-nosync
//	      the write-ahead log as in the product, with bbolt's commits (its
//	      checkpoints) not synced: what taking the checkpoints' I/O off
//	      the committer could win (NOT durable: the log is written over
//	      after a checkpoint that may not be on disk);
//	none  nothing: commits are NOT durable (the bound of any sync design);
//	log   one pwrite of about 320 bytes per write of the commit to a
//	      preallocated, zero-filled log file and one fdatasync of it: the
//	      ack path of an append-only write-ahead log (bbolt still does all
//	      its page writes, without a sync; nothing is replayed).
//
// Unset, the store is unchanged. Never build a server for real use with
// this tag: both lose acknowledged messages in a power failure. (The
// fifth session's third mode, deferred, measured the ack path of the
// write-ahead log before it was built: wal.go replaced it.)

import (
	"fmt"
	"os"
)

func init() {
	experimentOpen = func(s *Store) error {
		mode := os.Getenv("TRIPSENSE_EXPERIMENT_SYNC")
		switch mode {
		case "":
			return nil
		case "checkpoint-nosync":
			// The log as in the product, its checkpoints without bbolt's
			// two fdatasyncs: what moving their I/O off the committer
			// could win.
			s.db.NoSync = true
			return nil
		case "none", "log":
		default:
			return fmt.Errorf("bolt: TRIPSENSE_EXPERIMENT_SYNC=%q: want none, log or checkpoint-nosync", mode)
		}
		if s.wal != nil {
			_ = s.wal.f.Close()
			s.wal = nil
		}
		s.db.NoSync = true
		if mode == "log" {
			return openExperimentLog(s.db.Path() + ".explog")
		}
		return nil
	}
}

const experimentLogBytes = 256 << 20

// openZeroedLog creates an experiment's log file, size bytes of written
// zeros. Written, not fallocated: writing into an unwritten extent
// would make every fdatasync also commit the extent's conversion.
func openZeroedLog(path string, size int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, 1<<20)
	for range size / len(zero) {
		if _, err := f.Write(zero); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func openExperimentLog(path string) error {
	f, err := openZeroedLog(path, experimentLogBytes)
	if err != nil {
		return err
	}
	var off int64
	buf := make([]byte, 320*1024)
	experimentAfterCommit = func(writes int) error {
		b := buf[:320*min(writes, 1024)]
		if off+int64(len(b)) > experimentLogBytes {
			off = 0
		}
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
		return fdatasync(f)
	}
	return nil
}

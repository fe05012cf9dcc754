//go:build tripsense_syncexp

package bolt

// The durability experiment of docs/benchmarks.md ("What durability
// costs"): a build with the tag tripsense_syncexp reads
// TRIPSENSE_EXPERIMENT_SYNC at Open and replaces bbolt's two fdatasyncs
// per commit with
//
//	none  nothing: commits are NOT durable (the bound of any sync design);
//	log   one pwrite of about 320 bytes per write of the commit to a
//	      preallocated, zero-filled log file and one fdatasync of it: the
//	      ack path of an append-only write-ahead log (bbolt still does all
//	      its page writes, without a sync; nothing is replayed).
//
// Unset, the store is unchanged. Never build a server for real use with
// this tag: both settings lose acknowledged messages in a power failure.

import (
	"fmt"
	"os"
	"syscall"
)

func init() {
	experimentOpen = func(s *Store) error {
		switch mode := os.Getenv("TRIPSENSE_EXPERIMENT_SYNC"); mode {
		case "":
			return nil
		case "none":
			s.db.NoSync = true
			return nil
		case "log":
			s.db.NoSync = true
			return openExperimentLog(s.db.Path() + ".explog")
		default:
			return fmt.Errorf("bolt: TRIPSENSE_EXPERIMENT_SYNC=%q: want none or log", mode)
		}
	}
}

const experimentLogBytes = 256 << 20

func openExperimentLog(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// Written zeros, not fallocate: writing into an unwritten extent would
	// make every fdatasync also commit the extent's conversion.
	zero := make([]byte, 1<<20)
	for range experimentLogBytes / len(zero) {
		if _, err := f.Write(zero); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
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
		return syscall.Fdatasync(int(f.Fd()))
	}
	return nil
}

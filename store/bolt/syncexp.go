//go:build tripsense_syncexp

package bolt

// The durability experiments of docs/benchmarks.md ("What durability
// costs", "bbolt off the ack path"): a build with the tag tripsense_syncexp reads
// TRIPSENSE_EXPERIMENT_SYNC at Open and replaces bbolt's two fdatasyncs
// per commit with
//
//	none  nothing: commits are NOT durable (the bound of any sync design);
//	log   one pwrite of about 320 bytes per write of the commit to a
//	      preallocated, zero-filled log file and one fdatasync of it: the
//	      ack path of an append-only write-ahead log (bbolt still does all
//	      its page writes, without a sync; nothing is replayed).
//	deferred
//	      bbolt off the ack path: a commit of appends only runs them in a
//	      bbolt write transaction kept open across commits and is acked
//	      after one pwrite of its messages' bytes (plus 64 per write) to
//	      the log and one fdatasync of it. The open transaction is
//	      committed (durably, by bbolt) after deferredEvery appends, at
//	      the first commit after it is deferredAge old, before any other
//	      write, before a read that finds acked appends in it, and at
//	      close; Head answers from the heads of the rooms with acked
//	      appends in it. This is what a write-ahead log in front of bbolt
//	      would cost on the ack path and in CPU, with bbolt's page writes
//	      amortized over many commits; nothing is replayed at open, and a
//	      failed append's partial writes stay in the transaction.
//
// Unset, the store is unchanged. Never build a server for real use with
// this tag: none and log lose acknowledged messages in a power failure,
// deferred in any crash.

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
)

func init() {
	// The deferred mode's hooks are set once, here, for every store:
	// they act only on the stores opened in that mode (deferredStores).
	experimentCommit = func(s *Store, batch []*op) bool {
		if d := deferredOf(s); d != nil {
			return d.commit(s, batch)
		}
		return false
	}
	experimentBeforeRead = func(s *Store) {
		if d := deferredOf(s); d != nil && d.pending.Load() > 0 {
			// An empty write: the committer commits the open
			// transaction before it (see commit), so the read sees
			// every acked append.
			_ = s.write(context.Background(), "experiment barrier", func(*bbolt.Tx) error { return nil })
		}
	}
	experimentClose = func(s *Store) {
		if d := deferredOf(s); d != nil {
			d.checkpoint()
			_ = d.log.Close()
			if d.checkpoints > 0 {
				fmt.Fprintf(os.Stderr, "bolt: experiment: %d commits of the deferred transaction, %v on average, the longest %v\n",
					d.checkpoints, d.ckTotal/time.Duration(d.checkpoints), d.ckMax)
			}
			deferredMu.Lock()
			delete(deferredStores, s)
			deferredMu.Unlock()
		}
	}
	experimentHead = func(s *Store, room string) (int64, bool, error) {
		d := deferredOf(s)
		if d == nil {
			return 0, false, nil
		}
		d.headsMu.Lock()
		h, ok := d.heads[room]
		d.headsMu.Unlock()
		if ok {
			return h, true, nil
		}
		err := s.db.View(func(tx *bbolt.Tx) error {
			var err error
			h, err = readHead(tx, room)
			return err
		})
		return h, true, err
	}
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
		case "deferred":
			return openDeferred(s)
		default:
			return fmt.Errorf("bolt: TRIPSENSE_EXPERIMENT_SYNC=%q: want none, log or deferred", mode)
		}
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
		return syscall.Fdatasync(int(f.Fd()))
	}
	return nil
}

// The deferred mode's state, per store.
type deferred struct {
	log     *os.File
	off     int64
	tx      *bbolt.Tx // the open transaction, nil between two
	opened  time.Time
	inTx    int          // appends in tx
	pending atomic.Int64 // appends acked and not yet committed by bbolt
	buf     []byte
	// heads holds the head of every room with acked appends in the open
	// transaction (the committer writes it before the acks, and clears
	// it after the transaction's commit): Head answers from it, or from
	// bbolt without the read barrier, since a room not in it has its head
	// committed.
	headsMu sync.Mutex
	heads   map[string]int64
	// checkpoints counts the open transaction's commits and adds up
	// their time; the longest is ckMax (printed at close).
	checkpoints    int
	ckTotal, ckMax time.Duration
}

const (
	deferredEvery    = 1024
	deferredAge      = 50 * time.Millisecond
	deferredLogBytes = 32 << 20 // written from the start again when full (nothing is replayed)
)

var (
	deferredMu     sync.Mutex
	deferredStores = map[*Store]*deferred{}
)

func deferredOf(s *Store) *deferred {
	deferredMu.Lock()
	defer deferredMu.Unlock()
	return deferredStores[s]
}

func openDeferred(s *Store) error {
	f, err := openZeroedLog(s.db.Path()+".explog", deferredLogBytes)
	if err != nil {
		return err
	}
	deferredMu.Lock()
	deferredStores[s] = &deferred{log: f, heads: map[string]int64{}}
	deferredMu.Unlock()
	return nil
}

// commit runs a batch of appends in the open transaction and acks it after
// the log's sync; any other batch first commits the open transaction and
// is then committed as usual (it reports false).
func (d *deferred) commit(s *Store, batch []*op) bool {
	for _, o := range batch {
		if o.append == nil {
			d.checkpoint()
			return false
		}
	}
	start := time.Now()
	if d.tx == nil {
		tx, err := s.db.Begin(true)
		if err != nil {
			for _, o := range batch {
				o.finish(err)
			}
			return true
		}
		d.tx, d.opened = tx, start
	}
	d.buf = d.buf[:0]
	errs := make([]error, len(batch))
	for i, o := range batch {
		errs[i] = o.fn(d.tx)
		d.buf = append(d.buf, make([]byte, 64+int(o.weight))...)
	}
	if d.off+int64(len(d.buf)) > deferredLogBytes {
		d.off = 0
	}
	_, err := d.log.WriteAt(d.buf, d.off)
	d.off += int64(len(d.buf))
	if err == nil {
		err = syscall.Fdatasync(int(d.log.Fd()))
	}
	if err == nil {
		s.commits.Add(1)
		s.writes.Add(int64(len(batch)))
		if fn := s.observer.Load(); fn != nil {
			(*fn)(CommitStats{Writes: len(batch), Duration: time.Since(start)})
		}
		d.pending.Add(int64(len(batch)))
		d.headsMu.Lock()
		for i, o := range batch {
			if a := o.append; errs[i] == nil && a.index > 0 {
				d.heads[a.room] = a.index
			}
		}
		d.headsMu.Unlock()
	}
	for i, o := range batch {
		o.finish(cmp.Or(errs[i], err))
	}
	d.inTx += len(batch)
	if d.inTx >= deferredEvery || time.Since(d.opened) >= deferredAge {
		d.checkpoint()
	}
	return true
}

// checkpoint commits the open transaction (bbolt's two fdatasyncs).
func (d *deferred) checkpoint() {
	if d.tx == nil {
		return
	}
	start := time.Now()
	if err := d.tx.Commit(); err != nil {
		panic(fmt.Sprintf("bolt: experiment: commit of the deferred transaction: %v", err))
	}
	took := time.Since(start)
	d.checkpoints++
	d.ckTotal += took
	d.ckMax = max(d.ckMax, took)
	d.tx, d.inTx = nil, 0
	d.pending.Store(0)
	d.headsMu.Lock()
	clear(d.heads)
	d.headsMu.Unlock()
}

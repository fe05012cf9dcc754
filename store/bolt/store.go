package bolt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
)

var _ tripsense.Store = (*Store)(nil)

// ErrClosed is returned by writes to a closed store.
var ErrClosed = errors.New("bolt: store is closed")

// ErrInUse is returned by Open when another process (or Store) holds the
// file: the lock was not released within Options.LockTimeout.
var ErrInUse = errors.New("the file is in use by another process (is another tripsense running on this data directory?)")

// Options configures a Store. The zero value is the durable default.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another process
	// that has the same file open. Zero means 1s.
	LockTimeout time.Duration
	// MaxBatch bounds how many writes one commit carries. Zero means 4096.
	// A commit takes what was queued while the previous one ran, so it is
	// this large only when the store is saturated; then a larger commit
	// spreads its fixed cost (two fdatasyncs, the pages of the B+tree's
	// paths) over more writes.
	MaxBatch int
	// MaxQueued bounds the writes queued for the committer: a writer
	// blocks while that many wait. Zero means four commits' worth
	// (4*MaxBatch, 16,384 by default), more than the pipelined sends of 64
	// connections at their bound, so that writers rarely block on the queue
	// itself (the callers bound what they have in flight).
	MaxQueued int
	// MaxQueuedBytes bounds the bytes of the encoded messages queued for
	// the committer or in the commit being written: an append blocks while
	// its message does not fit. Zero means 32 MiB, which messages of a few
	// hundred bytes never reach; it keeps the memory of a queue of large
	// messages (up to tripsense.MaxChatMessageBytes each) near what 1,024
	// of them take.
	MaxQueuedBytes int64
	// MaxBatchDelay bounds how long a commit waits for the writers of the
	// previous commit to come back when fewer have arrived (they usually do
	// within microseconds; a lone writer never waits). Zero means 200µs;
	// negative means never wait.
	MaxBatchDelay time.Duration
	// NoSync skips fsync on commit. The store is then NOT durable: use it only
	// to load test or benchmark data fast. It also turns the log off.
	NoSync bool
	// NoLog commits every write to bbolt itself (two fdatasyncs and the
	// changed B+tree pages per commit) instead of acking appends after
	// one write and fdatasync of the write-ahead log (the file path.wal
	// beside the store; wal.go). Open replays what the log holds either
	// way. The log is on by default.
	NoLog bool
	// LogBytes is the write-ahead log's size: two regions of half of it,
	// which take turns at every checkpoint (the log goes on in one while
	// bbolt commits what the other holds). When the next commit's frame
	// does not fit in its region, bbolt commits the overlay at once. Zero
	// means 8 MiB.
	LogBytes int64
	// CheckpointAppends and CheckpointInterval bound the appends the log
	// holds before bbolt commits them (a checkpoint, in the background),
	// in number and in age; a checkpoint also comes before any other write
	// and before a read while appends are pending. Zero means 1,024 and
	// 50ms.
	CheckpointAppends  int
	CheckpointInterval time.Duration
	// InitialMmapSize is the size of bbolt's memory map of the file, set
	// at Open. bbolt grows its map only once every read transaction has
	// ended, and a Backup reads in one for as long as its reader takes: a
	// store that outgrew a small map while a slow client downloaded a
	// backup would stop every write until the download ended. The map is
	// address space, not memory (pages are read in as they are used, as
	// before). Zero means 8 GiB, as etcd does with 10 GiB. A store file
	// larger than half of it is mapped at twice its size at Open, so it
	// can double before its map must grow. On Windows, where bbolt
	// grows the file to its map, and on 32-bit platforms, zero keeps
	// bbolt's default.
	InitialMmapSize int
	// Now is the clock of dedupe records, cursor updates, joinedAt and of a
	// message with a zero CreateTime. Nil means time.Now.
	Now func() time.Time
	// DedupePruneInterval is how often, at the least, a prune of expired
	// dedupe records (older than tripsense.DedupeTTL) is queued by appends;
	// one is also queued every 1,024 appends (see Store.PruneDedupe). Zero
	// means 1 minute.
	DedupePruneInterval time.Duration
	// Outbox makes every append also record an outbox entry (a webhook
	// event) in its own transaction (see tripsense.OutboxStore). Off
	// when no webhook is configured: nothing would ever drain it.
	Outbox bool
}

// defaultInitialMmapSize is 8 GiB on a 64-bit platform, and 0 (bbolt's
// default) on a 32-bit one, whose address space it would not fit.
const defaultInitialMmapSize = 8 << 30 * (bits.UintSize / 64)

// mmapSize is the memory map a store file of size bytes starts with: at
// least InitialMmapSize, and twice the file, so that a store larger than
// it can still double before a Backup could hold its writes.
func mmapSize(least int, size int64) int {
	if size > int64(least)/2 && size <= int64(math.MaxInt/2) {
		return int(2 * size)
	}
	return least
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 4 * o.MaxBatch
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = 32 << 20
	}
	if o.MaxBatchDelay == 0 {
		o.MaxBatchDelay = 200 * time.Microsecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InitialMmapSize <= 0 && runtime.GOOS != "windows" {
		o.InitialMmapSize = defaultInitialMmapSize
	}
	if o.LogBytes <= 0 {
		o.LogBytes = 8 << 20
	}
	if o.CheckpointAppends <= 0 {
		o.CheckpointAppends = 1024
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 50 * time.Millisecond
	}
	if o.DedupePruneInterval <= 0 {
		o.DedupePruneInterval = time.Minute
	}
	return o
}

// Store is the bbolt tripsense.Store. It is safe for concurrent use.
type Store struct {
	db    *bbolt.DB
	opts  Options
	epoch string

	// mu guards closed and sending on queue: Close takes it exclusively.
	mu        sync.RWMutex
	closed    bool
	queue     chan *op
	queued    *byteBudget   // bytes of the messages queued or being committed
	committed chan struct{} // closed when the committer has exited

	lastPruneMs atomic.Int64
	// dedupeWrites counts the dedupe records written since the last
	// prune was queued; pruneFrom is where the next prune's scan starts
	// (the committer's only, see pruneDedupe).
	dedupeWrites atomic.Int64
	pruneFrom    []byte
	commits      atomic.Int64 // transactions the committer committed
	writes       atomic.Int64 // writes those transactions carried
	pageWrites   atomic.Int64 // pages those transactions wrote
	observer     atomic.Pointer[func(CommitStats)]
	ckObserver   atomic.Pointer[func(CheckpointStats)]
	members      memberCache

	// wal is the write-ahead log (nil with NoLog or NoSync), closeErr the
	// committer's last checkpoint's error, for Close.
	wal      *wal
	closeErr error
	replayed int64 // frames of the log replayed at Open
}

// Stats counts the committer's work since Open.
type Stats struct {
	Commits int64 // read-write transactions committed (each one fsync pair)
	Writes  int64 // writes they carried; Writes/Commits is the mean batch
	// PageWrites counts the pages those commits wrote, one pwrite each:
	// every B+tree page a commit changed (copied on write, with its
	// branch pages up to the root), the freelist and the meta page.
	PageWrites int64
	// Queued is how many writes wait for the committer now, and
	// QueuedBytes the bytes of their messages and of those in the commit
	// under way (Options.MaxQueued, MaxQueuedBytes): a store that keeps
	// them near their bounds is saturated.
	Queued      int
	QueuedBytes int64
	// Checkpoints counts the write-ahead log's checkpoints: the commits
	// of its overlay into bbolt (their pages are in PageWrites).
	// Replayed is how many of the log's frames (one per commit) Open
	// found not yet in bbolt and replayed.
	Checkpoints int64
	Replayed    int64
	// CheckpointWaits counts the times the committer waited for a
	// checkpoint committing in the background: for a write that is
	// neither an append nor a webhook outcome, a read's barrier, a full
	// region or layer, or Close.
	CheckpointWaits int64
}

// Stats returns the committer's counters.
func (s *Store) Stats() Stats {
	st := Stats{Commits: s.commits.Load(), Writes: s.writes.Load(), PageWrites: s.pageWrites.Load(),
		Queued: len(s.queue), QueuedBytes: s.queued.held.Load(), Replayed: s.replayed}
	if s.wal != nil {
		st.Checkpoints = s.wal.checkpoints.Load()
		st.CheckpointWaits = s.wal.waits.Load()
	}
	return st
}

// CommitStats describes one commit of the committer.
type CommitStats struct {
	Writes     int   // writes the commit carried
	PageWrites int64 // pages it wrote into bbolt (0 for a commit through the log)
	LogBytes   int64 // bytes it wrote to the write-ahead log (0 for a commit into bbolt)
	// Duration is the commit from its first write to the end of its last
	// fdatasync (the log's, or bbolt's second): what every write of the
	// batch waited for after its turn came.
	Duration time.Duration
}

// ObserveCommits makes the committer call fn after every commit that
// succeeded (in the committer's goroutine: fn must be quick). nil stops it.
func (s *Store) ObserveCommits(fn func(CommitStats)) { setObserver(&s.observer, fn) }

// setObserver stores fn in p (nil when fn is nil).
func setObserver[T any](p *atomic.Pointer[func(T)], fn func(T)) {
	if fn == nil {
		p.Store(nil)
		return
	}
	p.Store(&fn)
}

// CheckpointStats describes one checkpoint of the write-ahead log: the
// commit into bbolt of the appends it held.
type CheckpointStats struct {
	Writes     int   // logged writes it carried (appends and prunes, acked through the log or in the batch it committed)
	PageWrites int64 // pages it wrote
	Duration   time.Duration
}

// ObserveCheckpoints makes the committer call fn after every checkpoint
// that succeeded (in the committer's goroutine: fn must be quick). nil
// stops it.
func (s *Store) ObserveCheckpoints(fn func(CheckpointStats)) { setObserver(&s.ckObserver, fn) }

// Open opens (creating if needed) the store in the file at path, which is
// a file inside the data directory; the directory must exist. Only one
// Store may have a file open at a time (a second Open, also from another
// process, waits up to Options.LockTimeout and fails).
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	mmap := opts.InitialMmapSize
	if fi, err := os.Stat(path); err == nil && mmap > 0 {
		mmap = mmapSize(mmap, fi.Size())
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         opts.LockTimeout,
		NoSync:          opts.NoSync,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: mmap,
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	// The log is replayed even when it is off now: it holds acked appends
	// if the last process that had the store open crashed with it on.
	w, created, err := openLog(path, opts.LogBytes)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	var epoch string
	var replayed int64
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		var err error
		if epoch, err = ensureEpoch(tx); err != nil {
			return err
		}
		if replayed, err = w.replay(tx, -1); err != nil {
			return fmt.Errorf("replay the write-ahead log %s: %w", logPath(path), err)
		}
		return nil
	})
	if err == nil && created {
		// The log's file must be there after a crash, to be replayed.
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = w.f.Close()
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if opts.NoLog || opts.NoSync {
		// Replayed, and bbolt has a new generation: nothing in the file
		// applies again. With NoSync that commit may not survive a power
		// failure, so the file stays, to be replayed again.
		_ = w.f.Close()
		if !opts.NoSync {
			_ = os.Remove(logPath(path))
		}
		w = nil
	}
	s := &Store{
		db:        db,
		opts:      opts,
		epoch:     epoch,
		queue:     make(chan *op, opts.MaxQueued),
		queued:    newByteBudget(opts.MaxQueuedBytes),
		committed: make(chan struct{}),
		wal:       w,
		replayed:  replayed,
	}
	s.lastPruneMs.Store(opts.Now().UnixMilli())
	if experimentOpen != nil {
		if err := experimentOpen(s); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	go s.commitLoop()
	return s, nil
}

// Close commits the writes already queued, then closes the file. Writes
// after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.committed
	if err := errors.Join(s.closeErr, s.db.Close()); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// Path returns the file the store is in.
func (s *Store) Path() string { return s.db.Path() }

// Size returns the size of the file in bytes.
func (s *Store) Size() (int64, error) {
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return 0, fmt.Errorf("bolt: %w", err)
	}
	return fi.Size(), nil
}

// view runs fn in a read-only transaction. fn must read only buckets the
// write-ahead log does not write (not messages, heads, dedupe records or
// the outbox: see viewAcked), or, like Head, know where else to look.
func (s *Store) view(opName string, fn func(tx *bbolt.Tx) error) error {
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("bolt: %s: %w", opName, err)
	}
	return nil
}

// viewAcked is view for the buckets appends write: it first waits
// (bounded by ctx) until bbolt holds every acked append (barrier).
func (s *Store) viewAcked(ctx context.Context, opName string, fn func(tx *bbolt.Tx) error) error {
	if err := s.barrier(ctx); err != nil {
		return fmt.Errorf("bolt: %s: %w", opName, err)
	}
	return s.view(opName, fn)
}

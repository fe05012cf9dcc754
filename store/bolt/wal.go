package bolt

// The write-ahead log (docs/architecture.md, "The write-ahead log").
//
// A commit of appends (and of the dedupe prunes they queue and the webhook
// outbox's outcomes: the logged ops) runs them in a bbolt write transaction that stays open across
// commits (the overlay), writes the keys and values they put or deleted to
// the log file as one frame with one pwrite, fdatasyncs the log and acks.
// bbolt commits the overlay (a checkpoint, with its two fdatasyncs) after
// CheckpointAppends logged writes, once it is CheckpointInterval old (also
// when idle), when the next frame does not fit in the log, before every
// other write, before a read of what appends write while acked appends are
// pending (viewAcked), and at Close. So every acked append is in the log
// or in bbolt, and reads see exactly what was acked. Open replays the
// log's frames into bbolt.
//
// Frames are physical: each put's bucket, key and value, so replay decides
// nothing again. Each frame carries the log's generation, a random number
// that every checkpoint replaces in bbolt's meta bucket in the same
// transaction, and a CRC-32C: a frame from before the last checkpoint, or
// a torn one, is never applied, and the first such frame ends the log.
// After a checkpoint the log is written from its start again.

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// metaLogGeneration is the meta bucket's key of the log's generation: the
// frames of the log that carry it are not in bbolt yet.
var metaLogGeneration = []byte("logGeneration")

// A frame: CRC-32C (Castagnoli) of the rest, payload length, generation
// (little-endian), then the payload: puts, each a bucket id, then key and
// value, each prefixed with its length as a uvarint, and deletes, a bucket
// id with its high bit set, then the key.
const frameHeader = 16

// The buckets an append writes, by their id in a frame.
const (
	logMessages byte = 1 + iota
	logHeads
	logDedupe
	logOutbox
	logDedupeByTime
	logOutboxFailed

	logDelete byte = 0x80 // or'ed into a delete's bucket id
)

var logBuckets = [...][]byte{logMessages: bucketMessages, logHeads: bucketHeads, logDedupe: bucketDedupe,
	logOutbox: bucketOutbox, logDedupeByTime: bucketDedupeByTime, logOutboxFailed: bucketOutboxFailed}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wal is a store's write-ahead log. All of it but pending, heads and the
// counters is the committer's only.
type wal struct {
	f    *os.File
	size int64  // the log's capacity in bytes (Options.LogBytes)
	gen  uint64 // the generation in bbolt's meta bucket, carried by the frames written since
	off  int64  // where the next frame goes
	buf  []byte // the frame being built

	tx     *bbolt.Tx // the overlay, nil between a checkpoint and the next append
	opened time.Time // when tx began
	inTx   int       // logged writes run in tx
	dirty  bool      // tx has writes (a frame was made of them)

	// pending counts the appends acked and not yet checkpointed: a read
	// waits for a checkpoint while it is not 0.
	pending atomic.Int64
	// heads holds the head of every room with appends in the log that are
	// not checkpointed (the committer sets it before the acks and clears it
	// after the checkpoint), so Head answers from it without a checkpoint;
	// a room not in it has its head in bbolt.
	headsMu sync.Mutex
	heads   map[string]int64

	// failed is set when a checkpoint failed: bbolt may not hold what was
	// acked, so every later write and read of what appends write fails (a
	// restart replays the log). Read it with broken.
	failed atomic.Pointer[error]

	timer       *time.Timer // the committer's, for checkpoints of an idle store (Store.next)
	checkpoints atomic.Int64
}

// fail stops the store with err (see failed).
func (w *wal) fail(err error) error {
	w.failed.Store(&err)
	return err
}

// broken returns the error that stopped the store, nil while it runs.
func (w *wal) broken() error {
	if e := w.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// logPath is where the log of the store at path is.
func logPath(path string) string { return path + ".wal" }

// openLog opens the log of the store at path, creating it if needed, for
// replay and the committer. created says it did not exist.
func openLog(path string, size int64) (w *wal, created bool, err error) {
	_, err = os.Stat(logPath(path))
	created = errors.Is(err, os.ErrNotExist)
	f, err := os.OpenFile(logPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("bolt: open the write-ahead log: %w", err)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	return &wal{f: f, size: size, heads: map[string]int64{}, timer: timer}, created, nil
}

// replay applies to tx the frames of the log's generation in bbolt (none
// when bbolt has none), up to the first frame that is not one of them,
// or up to end when end >= 0, and gives bbolt a new generation: the log
// is then written from its start. It returns the frames applied.
func (w *wal) replay(tx *bbolt.Tx, end int64) (int64, error) {
	meta := tx.Bucket(bucketMeta)
	var gen uint64
	if v := meta.Get(metaLogGeneration); len(v) == 8 {
		gen = binary.BigEndian.Uint64(v)
	}
	var frames int64
	if gen != 0 {
		err := w.scan(gen, end, func(payload []byte) error {
			frames++
			return applyFrame(tx, payload)
		})
		if err != nil {
			return 0, err
		}
	}
	next := newGeneration(gen)
	if err := meta.Put(metaLogGeneration, binary.BigEndian.AppendUint64(nil, next)); err != nil {
		return 0, err
	}
	w.gen, w.off = next, 0
	return frames, nil
}

// newGeneration returns a random generation, neither 0 nor old.
func newGeneration(old uint64) uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		if g := binary.LittleEndian.Uint64(b[:]); g != 0 && g != old {
			return g
		}
	}
}

// scan calls fn with the payload of each frame of generation gen from the
// log's start, stopping at the first frame that is torn, of another
// generation or past end (when end >= 0).
func (w *wal) scan(gen uint64, end int64, fn func(payload []byte) error) error {
	fi, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("the write-ahead log: %w", err)
	}
	limit := fi.Size()
	if end >= 0 {
		limit = min(limit, end)
	}
	var hdr [frameHeader]byte
	for off := int64(0); off+frameHeader <= limit; {
		if _, err := w.f.ReadAt(hdr[:], off); err != nil {
			return fmt.Errorf("read the write-ahead log at %d: %w", off, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		if binary.LittleEndian.Uint64(hdr[8:]) != gen || n == 0 || off+frameHeader+n > limit {
			return nil
		}
		frame := make([]byte, frameHeader+n) // bbolt keeps the keys and values until the commit
		if _, err := w.f.ReadAt(frame, off); err != nil {
			return fmt.Errorf("read the write-ahead log at %d: %w", off, err)
		}
		if crc32.Checksum(frame[4:], castagnoli) != binary.LittleEndian.Uint32(frame) {
			return nil // torn: its write never finished, so it was never acked
		}
		if err := fn(frame[frameHeader:]); err != nil {
			return fmt.Errorf("the write-ahead log's frame at %d: %w", off, err)
		}
		off += frameHeader + n
	}
	return nil
}

// applyFrame applies a frame's puts and deletes to tx.
func applyFrame(tx *bbolt.Tx, p []byte) error {
	for len(p) > 0 {
		id, del := p[0]&^logDelete, p[0]&logDelete != 0
		if int(id) >= len(logBuckets) || logBuckets[id] == nil {
			return fmt.Errorf("bucket %d: %w", id, errCorrupt)
		}
		k, rest, ok := cutBytes(p[1:])
		if !ok {
			return fmt.Errorf("key: %w", errCorrupt)
		}
		if del {
			p = rest
			if err := tx.Bucket(logBuckets[id]).Delete(k); err != nil {
				return err
			}
			continue
		}
		v, rest, ok := cutBytes(rest)
		if !ok {
			return fmt.Errorf("value: %w", errCorrupt)
		}
		p = rest
		b := tx.Bucket(logBuckets[id])
		if id == logMessages {
			b.FillPercent = 0.9
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
		if id == logOutbox {
			// The entry's key is the bucket's sequence it took.
			if len(k) != 8 {
				return fmt.Errorf("outbox key: %w", errCorrupt)
			}
			if seq := binary.BigEndian.Uint64(k); seq > b.Sequence() {
				if err := b.SetSequence(seq); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func cutBytes(p []byte) (b, rest []byte, ok bool) {
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(len(p)-w) {
		return nil, nil, false
	}
	return p[w : w+int(n)], p[w+int(n):], true
}

// appendPut adds a put to a frame's payload.
func appendPut(p []byte, id byte, k, v []byte) []byte {
	p = append(p, id)
	p = binary.AppendUvarint(p, uint64(len(k)))
	p = append(p, k...)
	p = binary.AppendUvarint(p, uint64(len(v)))
	return append(p, v...)
}

// recorder writes into bbolt and, when log is set (by the write-ahead
// log's commit, for one run of a logged op), records the write in the
// frame being built.
type recorder struct{ log *[]byte }

// put puts k, v into b, whose id in a frame is id.
func (r recorder) put(b *bbolt.Bucket, id byte, k, v []byte) error {
	if r.log != nil {
		*r.log = appendPut(*r.log, id, k, v)
	}
	return b.Put(k, v)
}

// delete deletes k from b, whose id in a frame is id.
func (r recorder) delete(b *bbolt.Bucket, id byte, k []byte) error {
	r.deleted(id, k)
	return b.Delete(k)
}

// deleted records the delete of k, whose bucket's id in a frame is id,
// done by the caller.
func (r recorder) deleted(id byte, k []byte) {
	if r.log != nil {
		*r.log = appendDelete(*r.log, id, k)
	}
}

// newLoggedOp is an op the log may take: fn writes through r, which
// records what it writes when the log runs it.
func newLoggedOp(fn func(tx *bbolt.Tx, r recorder) error) *op {
	o := &op{done: make(chan struct{}), logged: true}
	o.fn = func(tx *bbolt.Tx) error { return fn(tx, recorder{o.log}) }
	return o
}

// writeLogged is write for a write the log may take (newLoggedOp).
func (s *Store) writeLogged(ctx context.Context, opName string, fn func(tx *bbolt.Tx, r recorder) error) error {
	return s.submit(ctx, opName, newLoggedOp(fn))
}

// appendDelete adds a delete to a frame's payload.
func appendDelete(p []byte, id byte, k []byte) []byte {
	p = append(p, id|logDelete)
	p = binary.AppendUvarint(p, uint64(len(k)))
	return append(p, k...)
}

// commit commits a batch of appends (and dedupe prunes and outbox
// outcomes: the ops that are logged) through the log and reports true; it answers the batch's read
// barriers after a checkpoint. A batch with any other write it leaves to
// the caller (false), after a checkpoint. It also reports false, after
// rolling the overlay back and checkpointing what the log holds, when an
// append failed in the overlay: the caller's commit then isolates the
// failure as it always does.
func (w *wal) commit(s *Store, batch []*op) bool {
	barriers := 0
	for _, o := range batch {
		if o.barrier {
			barriers++
		} else if !o.logged {
			w.checkpoint(s)
			return false
		}
	}
	onlyBarriers := barriers == len(batch)
	var waiting []*op // the barriers, when the batch has writes too
	if barriers > 0 && !onlyBarriers {
		writes := make([]*op, 0, len(batch)-barriers)
		for _, o := range batch {
			if o.barrier {
				waiting = append(waiting, o)
			} else {
				writes = append(writes, o)
			}
		}
		batch = writes
	}
	if onlyBarriers || w.broken() != nil {
		_, err := w.checkpoint(s)
		finishAll(batch, err)
		finishAll(waiting, err)
		return true
	}
	start := time.Now()
	if w.tx == nil {
		tx, err := s.db.Begin(true)
		if err != nil {
			finishAll(batch, err)
			finishAll(waiting, err)
			return true
		}
		w.tx, w.opened = tx, start
	}
	w.buf = append(w.buf[:0], make([]byte, frameHeader)...)
	for _, o := range batch {
		o.log = &w.buf
		err := o.fn(w.tx)
		o.log = nil
		if err != nil {
			w.recover(s, w.off)
			return false // the caller answers the barriers (direct)
		}
	}
	w.inTx += len(batch)
	var err error
	var pages int64
	frame := w.buf
	if len(frame) == frameHeader {
		frame = frame[:0] // duplicates, refusals and empty prunes only: nothing to log
	} else {
		w.dirty = true
	}
	switch {
	case len(frame) == 0:
	case w.inTx >= s.opts.CheckpointAppends || w.off+int64(len(frame)) > w.size:
		// The overlay is due for a checkpoint, or the log is full: bbolt
		// commits the overlay with this batch in it, and the batch is not
		// logged (a saturated store's large batches cost what they cost
		// without the log).
		pages, err = w.checkpoint(s)
		frame = frame[:0]
	default:
		binary.LittleEndian.PutUint32(frame[4:], uint32(len(frame)-frameHeader))
		binary.LittleEndian.PutUint64(frame[8:], w.gen)
		binary.LittleEndian.PutUint32(frame, crc32.Checksum(frame[4:], castagnoli))
		if _, err = w.f.WriteAt(frame, w.off); err == nil {
			err = syscall.Fdatasync(int(w.f.Fd()))
		}
		if err != nil {
			// Not acked: nothing of this batch may stay in the overlay.
			w.recover(s, w.off)
			return false // the caller answers the barriers (direct)
		}
		w.off += int64(len(frame))
		w.pending.Add(int64(len(batch)))
		w.headsMu.Lock()
		for _, o := range batch {
			if a := o.append; a != nil && a.index > 0 {
				w.heads[a.room] = a.index
			}
		}
		w.headsMu.Unlock()
	}
	if err == nil {
		s.commits.Add(1)
		s.writes.Add(int64(len(batch)))
		if fn := s.observer.Load(); fn != nil {
			(*fn)(CommitStats{Writes: len(batch), PageWrites: pages, LogBytes: int64(len(frame)), Duration: time.Since(start)})
		}
	}
	finishAll(batch, err)
	if w.tx != nil && (len(waiting) > 0 || w.inTx >= s.opts.CheckpointAppends || time.Since(w.opened) >= s.opts.CheckpointInterval) {
		_, err = w.checkpoint(s)
	}
	finishAll(waiting, cmp.Or(err, w.broken()))
	return true
}

func finishAll(ops []*op, err error) {
	for _, o := range ops {
		o.finish(err)
	}
}

// checkpoint commits the overlay into bbolt with a new generation, so the
// log is written from its start again. A failure fails the store (failed):
// what the log holds is replayed at the next Open.
func (w *wal) checkpoint(s *Store) (pages int64, err error) {
	if err := w.broken(); w.tx == nil || err != nil {
		return 0, err
	}
	tx, writes := w.tx, w.inTx
	w.tx, w.inTx = nil, 0
	if !w.dirty {
		// Nothing was written in it (duplicates, refusals, empty prunes).
		return 0, tx.Rollback()
	}
	w.dirty = false
	start := time.Now()
	next := newGeneration(w.gen)
	tx.OnCommit(func() { st := tx.Stats(); pages = st.GetWrite() })
	err = tx.Bucket(bucketMeta).Put(metaLogGeneration, binary.BigEndian.AppendUint64(nil, next))
	if err == nil {
		err = tx.Commit()
	} else {
		_ = tx.Rollback()
	}
	if err != nil {
		return 0, w.fail(fmt.Errorf("the write-ahead log's checkpoint into bbolt failed, so the store stopped (a restart replays the log): %w", err))
	}
	w.gen, w.off = next, 0
	w.forget()
	w.checkpoints.Add(1)
	s.pageWrites.Add(pages)
	if fn := s.ckObserver.Load(); fn != nil {
		(*fn)(CheckpointStats{Writes: writes, PageWrites: pages, Duration: time.Since(start)})
	}
	return pages, nil
}

// recover rolls the overlay back after a failed append or log write and
// commits, in a new transaction, the log's frames before end (what was
// acked), with a new generation. A failure fails the store.
func (w *wal) recover(s *Store, end int64) {
	_ = w.tx.Rollback()
	w.tx, w.dirty = nil, false
	var pages int64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		tx.OnCommit(func() { st := tx.Stats(); pages = st.GetWrite() })
		_, err := w.replay(tx, end)
		return err
	})
	if err != nil {
		w.fail(fmt.Errorf("the write-ahead log could not be checkpointed after a failed write, so the store stopped (a restart replays the log): %w", err))
		return
	}
	w.inTx = 0
	w.forget()
	w.checkpoints.Add(1)
	s.pageWrites.Add(pages)
}

// forget clears what the overlay held once bbolt has it.
func (w *wal) forget() {
	w.pending.Store(0)
	w.headsMu.Lock()
	clear(w.heads)
	w.headsMu.Unlock()
}

// head answers Head for a room with appends not checkpointed.
func (w *wal) head(room string) (int64, bool) {
	w.headsMu.Lock()
	defer w.headsMu.Unlock()
	h, ok := w.heads[room]
	return h, ok
}

// close checkpoints and closes the log (the committer's last act).
func (w *wal) close(s *Store) error {
	_, err := w.checkpoint(s)
	return errors.Join(err, w.f.Close())
}

// barrier waits (bounded by ctx) until bbolt holds every acked append:
// the first step of a read of the buckets appends write.
func (s *Store) barrier(ctx context.Context) error {
	w := s.wal
	if w == nil {
		return nil
	}
	if err := w.broken(); err != nil {
		return err
	}
	if w.pending.Load() == 0 {
		return nil
	}
	o := newOp(nil)
	o.barrier = true
	if err := s.enqueue(ctx, o); errors.Is(err, ErrClosed) {
		// Closing: the committer checkpoints as it exits.
		<-s.committed
		return w.broken()
	} else if err != nil {
		return err
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// direct returns the ops of a batch the log did not take that bbolt must
// commit itself, after the checkpoint: it answers the read barriers, and
// fails everything once the store failed.
func (w *wal) direct(batch []*op) []*op {
	rest := batch[:0]
	failed := w.broken()
	for _, o := range batch {
		if o.barrier || failed != nil {
			o.finish(failed)
			continue
		}
		rest = append(rest, o)
	}
	return rest
}

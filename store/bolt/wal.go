package bolt

// The write-ahead log (docs/architecture.md, "The write-ahead log").
//
// A commit of appends (and of the dedupe prunes they queue and the webhook
// outbox's outcomes: the logged ops) runs them in a bbolt write transaction that stays open across
// commits (the overlay), writes the keys and values they put or deleted to
// the log file as one frame with one pwrite, fdatasyncs the log and acks.
// bbolt commits the overlay (a checkpoint, with its two fdatasyncs) after
// CheckpointAppends logged writes or once it is CheckpointInterval old
// (also when idle): in the background (freeze), while the committer goes
// on acking appends from the log, which read the overlay being committed
// from a map of its writes (layerKV). The committer checkpoints the
// overlay itself, waiting for one in the background first, when the next
// frame does not fit in the log's region, before every other write, before
// a read of what appends write while acked appends are pending
// (viewAcked), and at Close. So every acked append is in the log or in
// bbolt, and reads see exactly what was acked. Open replays the log's
// frames into bbolt.
//
// Frames are physical: each put's bucket, key and value, so replay decides
// nothing again. Each frame carries its generation and a CRC-32C; bbolt's
// meta bucket holds the generation whose frames are not in bbolt yet, and
// the one the next checkpoint installs, each with its region of the file
// (logPosition), replaced by every checkpoint in the same transaction. A
// frame from before the last checkpoint, or a torn one, is never applied,
// and the first such frame ends a region's replay.

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"sync"
	"sync/atomic"
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

	// logLink starts the first frame of a region written while a
	// checkpoint committed: a uvarint, the offset where the frames of
	// the region before it ended. Replay applies that region only if the
	// one before it was read to there, so a damaged frame never leaves a
	// gap.
	logLink byte = 0x7f
)

var logBuckets = [...][]byte{logMessages: bucketMessages, logHeads: bucketHeads, logDedupe: bucketDedupe,
	logOutbox: bucketOutbox, logDedupeByTime: bucketDedupeByTime, logOutboxFailed: bucketOutboxFailed}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wal is a store's write-ahead log. All of it but pending, heads and the
// counters is the committer's only.
//
// The log's file is two regions of half its size. The frames of one
// generation are in one region, from its start. A checkpoint commits the
// overlay with the next generation, in the other region, in bbolt's meta
// (a position): while it commits in the background (freeze), the log goes
// on in that other region. So after a crash, Open finds the frames of the
// generation in bbolt, and after them those of the next one, which were
// written while the checkpoint that would have installed it committed.
type wal struct {
	f     *os.File
	size  int64 // the log's capacity in bytes (Options.LogBytes)
	half  int64 // a region's size
	pos   logPosition
	off   int64  // where the next frame goes, in the region at pos.start
	buf   []byte // the frame being built
	layer layer  // the logged writes since bbolt's last checkpoint (of the ones in flight: since it began)

	tx      *bbolt.Tx // the overlay: holds layer, nil when layer is empty or a checkpoint is in flight
	opened  time.Time // when the writes in layer began
	inTx    int       // logged writes in layer
	genAcks int64     // of them, the ones acked through the log (pending)
	dirty   bool      // tx has writes (a frame was made of them)

	// A checkpoint in the background (freeze): inflight until its outcome
	// comes on done. frozen is the overlay it commits (what readers of the
	// log's layers see under layer), frozenGen its generation and
	// frozenAcks its appends acked through the log; seq is the outbox's
	// sequence past the overlay.
	inflight   bool
	done       chan checkpointOutcome
	frozen     layer
	frozenGen  uint64
	frozenAcks int64
	frozenEnd  int64 // where the frozen overlay's frames end (logLink)
	seq        uint64
	// later holds the deferrable ops (prunes) of batches committed while
	// a checkpoint was in flight, for the committer's next commit after
	// it (Store.next).
	later []*op
	// beforeCommit, when set (tests), runs in the background checkpoint
	// before bbolt's commit.
	beforeCommit func()

	// pending counts the appends acked and not yet checkpointed: a read
	// waits for a checkpoint while it is not 0.
	pending atomic.Int64
	// heads holds the head of every room with appends in the log that are
	// not checkpointed, with the generation of the frame that wrote it
	// (the committer sets it before the acks, and removes a generation's
	// heads once bbolt has them), so Head answers from it without a
	// checkpoint; a room not in it has its head in bbolt.
	headsMu sync.Mutex
	heads   map[string]logHead

	// failed is set when a checkpoint failed: bbolt may not hold what was
	// acked, so every later write and read of what appends write fails (a
	// restart replays the log). Read it with broken.
	failed atomic.Pointer[error]

	timer       *time.Timer // the committer's, for checkpoints of an idle store (Store.next)
	checkpoints atomic.Int64
	waits       atomic.Int64 // Stats.CheckpointWaits
}

type logHead struct {
	index int64
	gen   uint64
}

// logPosition is what bbolt's meta bucket holds of the log (under
// metaLogGeneration): the generation of the frames not yet in bbolt and
// where its region starts, and the generation that the next checkpoint
// installs and the start of its region (the other one). A store written
// before the regions has only the generation (start 0, next 0).
type logPosition struct {
	gen, start, next, nextStart uint64
}

func (p logPosition) encode() []byte {
	b := make([]byte, 0, 32)
	for _, v := range [...]uint64{p.gen, p.start, p.next, p.nextStart} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func readPosition(meta *bbolt.Bucket) (logPosition, error) {
	v := meta.Get(metaLogGeneration)
	switch len(v) {
	case 0:
		return logPosition{}, nil
	case 8:
		return logPosition{gen: binary.BigEndian.Uint64(v)}, nil
	case 32:
		return logPosition{gen: binary.BigEndian.Uint64(v), start: binary.BigEndian.Uint64(v[8:]),
			next: binary.BigEndian.Uint64(v[16:]), nextStart: binary.BigEndian.Uint64(v[24:])}, nil
	}
	return logPosition{}, fmt.Errorf("the write-ahead log's position in bbolt (%d bytes): %w", len(v), errCorrupt)
}

// advance returns the position a checkpoint installs: the next
// generation, in the other region, and a new next one.
func (w *wal) advance(p logPosition) logPosition {
	start, nextStart := uint64(w.half), uint64(0)
	if p.start >= uint64(w.half) {
		start, nextStart = 0, uint64(w.half)
	}
	gen := p.next
	if gen == 0 || gen == p.gen {
		gen = newGeneration(p.gen)
	}
	return logPosition{gen: gen, start: start, next: newGeneration(gen), nextStart: nextStart}
}

// checkpointOutcome is what a background checkpoint reports.
type checkpointOutcome struct {
	err      error
	pages    int64
	writes   int
	duration time.Duration
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
	return &wal{f: f, size: size, half: size / 2, layer: layer{}, heads: map[string]logHead{}, timer: timer,
		done: make(chan checkpointOutcome, 1)}, created, nil
}

// replay applies to tx the frames of the log's generation in bbolt (none
// when bbolt has none) from its region's start, up to the first frame that
// is not one of them, or up to end when end >= 0. At Open (end < 0) it
// then applies the frames of the next generation from its region's start:
// a checkpoint that would have installed it was committing when they were
// written. It gives bbolt a new position, so the log is written from its
// start, and returns the frames applied.
func (w *wal) replay(tx *bbolt.Tx, end int64) (int64, error) {
	meta := tx.Bucket(bucketMeta)
	pos, err := readPosition(meta)
	if err != nil {
		return 0, err
	}
	var frames int64
	apply := func(payload []byte) error {
		frames++
		return applyFrame(tx, payload)
	}
	if pos.gen != 0 {
		ended, err := w.scan(pos.gen, int64(pos.start), end, apply)
		if err != nil {
			return 0, err
		}
		if end < 0 && pos.next != 0 {
			first := true
			_, err := w.scan(pos.next, int64(pos.nextStart), -1, func(p []byte) error {
				if first {
					first = false
					if at, _, ok := cutLink(p); !ok || at != ended {
						return fmt.Errorf("it was written after a region that ended at offset %d, but that region's frames end at %d: a frame there is damaged, and replaying the frames after it would leave a gap in the rooms' indexes: %w", at, ended, errCorrupt)
					}
				}
				return apply(p)
			})
			if err != nil {
				return 0, err
			}
		}
	}
	// All of it is in tx now: the log starts again in its first region.
	next := logPosition{gen: newGeneration(pos.gen), start: 0, nextStart: uint64(w.half)}
	next.next = newGeneration(next.gen)
	if err := meta.Put(metaLogGeneration, next.encode()); err != nil {
		return 0, err
	}
	w.pos, w.off = next, 0
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

// scan calls fn with the payload of each frame of generation gen from
// offset from, stopping at the first frame that is torn, of another
// generation or past end (when end >= 0). It returns the offset where
// the frames it read end.
func (w *wal) scan(gen uint64, from, end int64, fn func(payload []byte) error) (int64, error) {
	fi, err := w.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("the write-ahead log: %w", err)
	}
	limit := fi.Size()
	if end >= 0 {
		limit = min(limit, end)
	}
	var hdr [frameHeader]byte
	off := from
	for off+frameHeader <= limit {
		if _, err := w.f.ReadAt(hdr[:], off); err != nil {
			return 0, fmt.Errorf("read the write-ahead log at %d: %w", off, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		if binary.LittleEndian.Uint64(hdr[8:]) != gen || n == 0 || off+frameHeader+n > limit {
			break
		}
		frame := make([]byte, frameHeader+n) // bbolt keeps the keys and values until the commit
		if _, err := w.f.ReadAt(frame, off); err != nil {
			return 0, fmt.Errorf("read the write-ahead log at %d: %w", off, err)
		}
		if crc32.Checksum(frame[4:], castagnoli) != binary.LittleEndian.Uint32(frame) {
			break // torn: its write never finished, so it was never acked
		}
		if err := fn(frame[frameHeader:]); err != nil {
			return 0, fmt.Errorf("the write-ahead log's frame at %d: %w", off, err)
		}
		off += frameHeader + n
	}
	return off, nil
}

// logBucket returns tx's bucket whose id in a frame is id (the messages'
// filled for keys that grow at a room's end), or errCorrupt for an id no
// bucket has.
func logBucket(tx *bbolt.Tx, id byte) (*bbolt.Bucket, error) {
	if int(id) >= len(logBuckets) || logBuckets[id] == nil {
		return nil, fmt.Errorf("bucket %d: %w", id, errCorrupt)
	}
	b := tx.Bucket(logBuckets[id])
	if id == logMessages {
		b.FillPercent = 0.9
	}
	return b, nil
}

// applyFrame applies a frame's puts and deletes to tx.
func applyFrame(tx *bbolt.Tx, p []byte) error {
	if _, rest, ok := cutLink(p); ok {
		p = rest
	}
	for len(p) > 0 {
		id, del := p[0]&^logDelete, p[0]&logDelete != 0
		b, err := logBucket(tx, id)
		if err != nil {
			return err
		}
		k, rest, ok := cutBytes(p[1:])
		if !ok {
			return fmt.Errorf("key: %w", errCorrupt)
		}
		if del {
			p = rest
			if err := b.Delete(k); err != nil {
				return err
			}
			continue
		}
		v, rest, ok := cutBytes(rest)
		if !ok {
			return fmt.Errorf("value: %w", errCorrupt)
		}
		p = rest
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

// cutLink returns the offset of a frame's leading logLink record and
// the rest of the payload; ok is false when the frame has none.
func cutLink(p []byte) (at int64, rest []byte, ok bool) {
	if len(p) == 0 || p[0] != logLink {
		return 0, p, false
	}
	v, n := binary.Uvarint(p[1:])
	if n <= 0 || v > 1<<62 {
		return 0, p, false
	}
	return int64(v), p[1+n:], true
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

// recorder writes into bbolt and, when w is set (by the write-ahead log's
// commit, for one run of a logged op), records the write in the frame
// being built and in the log's layer.
type recorder struct{ w *wal }

// put puts k, v into b, whose id in a frame is id.
func (r recorder) put(b *bbolt.Bucket, id byte, k, v []byte) error {
	if r.w != nil {
		r.w.buf = appendPut(r.w.buf, id, k, v)
		r.w.layer[layerKey(id, k)] = v
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
	if r.w != nil {
		r.w.buf = appendDelete(r.w.buf, id, k)
		r.w.layer[layerKey(id, k)] = nil
	}
}

// newLoggedOp is an op the log may take: fn writes through r, which
// records what it writes when the log runs it.
func newLoggedOp(fn func(tx *bbolt.Tx, r recorder) error) *op {
	o := &op{done: make(chan struct{}), logged: true}
	o.fn = func(tx *bbolt.Tx) error { return fn(tx, recorder{o.log}) }
	return o
}

// writeKV is write for a write of the log's buckets that fn makes
// against a kv (op.setKV).
func (s *Store) writeKV(ctx context.Context, opName string, fn func(kv) error) error {
	o := newOp(nil)
	o.setKV(fn)
	return s.submit(ctx, opName, o)
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
	w.poll(s)
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
	if w.inflight {
		if w.shadow(s, batch) {
			if len(waiting) > 0 {
				_, err := w.checkpoint(s)
				finishAll(waiting, cmp.Or(err, w.broken()))
			}
			return true
		}
		// Not for the layers: the batch waits for the checkpoint.
		w.settle(s)
		if err := w.broken(); err != nil {
			finishAll(batch, err)
			finishAll(waiting, err)
			return true
		}
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
	// A large batch that brings the overlay to its bound is committed by
	// bbolt with the overlay, and not logged: a saturated store's large
	// batches cost what they cost without the log.
	unlogged := w.inTx+len(batch) >= s.opts.CheckpointAppends && len(batch) >= s.opts.CheckpointAppends/4
	w.buf = append(w.buf[:0], make([]byte, frameHeader)...)
	for _, o := range batch {
		if !unlogged {
			o.log = w
		}
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
	if len(frame) == frameHeader && !unlogged {
		frame = frame[:0] // duplicates, refusals and empty prunes only: nothing to log
	} else {
		w.dirty = true
	}
	switch {
	case len(frame) == 0:
	case unlogged || w.off+int64(len(frame)) > w.regionEnd():
		// Or the log's region is full: bbolt commits the overlay with
		// this batch in it.
		pages, err = w.checkpoint(s)
		frame = frame[:0]
	default:
		if err = w.writeFrame(frame); err != nil {
			// Not acked: nothing of this batch may stay in the overlay.
			w.recover(s, w.off)
			return false // the caller answers the barriers (direct)
		}
		w.acked(batch, len(frame))
	}
	if err == nil {
		s.observeCommit(len(batch), pages, int64(len(frame)), start)
	}
	finishAll(batch, err)
	if w.tx != nil {
		switch {
		case len(waiting) > 0:
			_, err = w.checkpoint(s)
		case w.inTx >= s.opts.CheckpointAppends || time.Since(w.opened) >= s.opts.CheckpointInterval:
			w.freeze(s)
		}
	}
	finishAll(waiting, cmp.Or(err, w.broken()))
	return true
}

// observeCommit counts a commit that succeeded and reports it to the
// observer.
func (s *Store) observeCommit(writes int, pages, logBytes int64, start time.Time) {
	s.commits.Add(1)
	s.writes.Add(int64(writes))
	if fn := s.observer.Load(); fn != nil {
		(*fn)(CommitStats{Writes: writes, PageWrites: pages, LogBytes: logBytes, Duration: time.Since(start)})
	}
}

// regionEnd is the end of the log's region being written.
func (w *wal) regionEnd() int64 { return int64(w.pos.start) + w.half }

// writeFrame completes the frame's header, writes it at w.off and syncs
// the log.
func (w *wal) writeFrame(frame []byte) error {
	binary.LittleEndian.PutUint32(frame[4:], uint32(len(frame)-frameHeader))
	binary.LittleEndian.PutUint64(frame[8:], w.pos.gen)
	binary.LittleEndian.PutUint32(frame, crc32.Checksum(frame[4:], castagnoli))
	if _, err := w.f.WriteAt(frame, w.off); err != nil {
		return err
	}
	return fdatasync(w.f)
}

// acked records a batch whose frame of n bytes the log synced: its appends
// are pending, and their rooms' heads are in heads.
func (w *wal) acked(batch []*op, n int) {
	w.off += int64(n)
	w.pending.Add(int64(len(batch)))
	w.genAcks += int64(len(batch))
	w.headsMu.Lock()
	for _, o := range batch {
		if a := o.append; a != nil && a.index > 0 {
			w.heads[a.room] = logHead{index: a.index, gen: w.pos.gen}
		}
	}
	w.headsMu.Unlock()
}

// shadow commits a batch of appends through the log while a checkpoint
// commits the overlay in the background: the appends run against the
// log's layers (layerKV), and the batch is acked once its frame is
// synced; the webhook outcomes (inKV) run the same way, and it sets the
// batch's prunes aside (later). It reports false, having written and
// acked nothing, for a batch with other ops, one that would take the
// layer past CheckpointAppends or its frame past the region, and one that
// failed: the caller then waits for the checkpoint and commits the batch
// as usual.
func (w *wal) shadow(s *Store, batch []*op) bool {
	var later []*op
	for _, o := range batch {
		if o.inKV == nil {
			if !o.deferrable {
				return false
			}
			later = append(later, o)
		}
	}
	if len(later) == len(batch) {
		w.later = append(w.later, later...)
		return true
	}
	if len(later) > 0 {
		rest := make([]*op, 0, len(batch)-len(later))
		for _, o := range batch {
			if !o.deferrable {
				rest = append(rest, o)
			}
		}
		if !w.shadow(s, rest) {
			return false
		}
		w.later = append(w.later, later...)
		return true
	}
	if w.inTx+len(batch) > s.opts.CheckpointAppends {
		return false
	}
	start := time.Now()
	rtx, err := s.db.Begin(false)
	if err != nil {
		return false
	}
	kv := &layerKV{w: w, batch: layer{}, rtx: rtx, seq: w.seq}
	w.buf = append(w.buf[:0], make([]byte, frameHeader)...)
	if w.off == int64(w.pos.start) {
		w.buf = binary.AppendUvarint(append(w.buf, logLink), uint64(w.frozenEnd))
	}
	empty := len(w.buf)
	for _, o := range batch {
		if err := o.inKV(kv); err != nil {
			_ = rtx.Rollback()
			return false
		}
	}
	_ = rtx.Rollback()
	frame := w.buf
	if len(frame) == empty {
		frame = frame[:0] // duplicates and refusals only
	} else {
		if w.off+int64(len(frame)) > w.regionEnd() || w.writeFrame(frame) != nil {
			return false
		}
		if w.inTx == 0 {
			w.opened = start
		}
		maps.Copy(w.layer, kv.batch)
		w.seq = kv.seq
		w.inTx += len(batch)
		w.acked(batch, len(frame))
	}
	s.observeCommit(len(batch), 0, int64(len(frame)), start)
	finishAll(batch, nil)
	return true
}

func finishAll(ops []*op, err error) {
	for _, o := range ops {
		o.finish(err)
	}
}

// freeze starts a checkpoint of the overlay in the background: bbolt
// commits it with the next position (advance), while the log goes on in
// the other region (shadow) until the committer takes the outcome
// (landed).
func (w *wal) freeze(s *Store) {
	if w.inflight || w.broken() != nil {
		return
	}
	tx, writes, next, ok := w.seal()
	if !ok {
		return
	}
	w.seq = tx.Bucket(bucketOutbox).Sequence()
	w.frozen, w.frozenGen, w.frozenAcks, w.frozenEnd = w.layer, w.pos.gen, w.genAcks, w.off
	w.layer, w.genAcks = layer{}, 0
	w.pos, w.off = next, int64(next.start)
	w.inflight = true
	hook := w.beforeCommit
	go func() {
		if hook != nil {
			hook()
		}
		start := time.Now()
		pages, err := commitTx(tx)
		w.done <- checkpointOutcome{err: err, pages: pages, writes: writes, duration: time.Since(start)}
	}()
}

// seal takes the overlay from the committer with the next position in
// bbolt's meta, for a checkpoint to commit it. It reports false when there
// is none: an overlay without writes (duplicates, refusals, empty prunes)
// is rolled back, and a failed write of the position fails the store.
func (w *wal) seal() (tx *bbolt.Tx, writes int, next logPosition, ok bool) {
	tx, writes, dirty := w.tx, w.inTx, w.dirty
	w.tx, w.inTx, w.dirty = nil, 0, false
	if tx == nil {
		return nil, 0, next, false
	}
	if !dirty {
		_ = tx.Rollback()
		return nil, 0, next, false
	}
	next = w.advance(w.pos)
	if err := tx.Bucket(bucketMeta).Put(metaLogGeneration, next.encode()); err != nil {
		_ = tx.Rollback()
		w.checkpointFailed(err)
		return nil, 0, next, false
	}
	return tx, writes, next, true
}

// commitTx commits tx and returns the pages it wrote.
func commitTx(tx *bbolt.Tx) (pages int64, err error) {
	// Commit handlers run once the transaction is written and closed; its
	// statistics are final then.
	tx.OnCommit(func() { st := tx.Stats(); pages = st.GetWrite() })
	err = tx.Commit()
	return pages, err
}

// checkpointFailed fails the store after a checkpoint failed.
func (w *wal) checkpointFailed(err error) error {
	return w.fail(fmt.Errorf("the write-ahead log's checkpoint into bbolt failed, so the store stopped (a restart replays the log): %w", err))
}

// settle waits for the checkpoint in flight, if any, and takes its
// outcome (landed).
func (w *wal) settle(s *Store) {
	if w.inflight && !w.poll(s) {
		w.waits.Add(1)
		w.landed(s, <-w.done)
	}
}

// poll takes the outcome of the checkpoint in flight if it came, and
// reports whether none is in flight now.
func (w *wal) poll(s *Store) bool {
	if !w.inflight {
		return true
	}
	select {
	case out := <-w.done:
		w.landed(s, out)
		return true
	default:
		return false
	}
}

// landed takes the outcome of the checkpoint in flight: bbolt has the
// frozen overlay, and the overlay opens again with what the log acked
// meanwhile (layer). A failure fails the store.
func (w *wal) landed(s *Store, out checkpointOutcome) {
	w.inflight, w.frozen = false, nil
	if out.err != nil {
		w.checkpointFailed(out.err)
		return
	}
	w.pending.Add(-w.frozenAcks)
	w.frozenAcks = 0
	w.headsMu.Lock()
	for room, h := range w.heads {
		if h.gen == w.frozenGen {
			delete(w.heads, room)
		}
	}
	w.headsMu.Unlock()
	w.counted(s, out.writes, out.pages, out.duration)
	if len(w.layer) == 0 {
		return
	}
	tx, err := s.db.Begin(true)
	if err == nil {
		if err = w.layer.apply(tx, w.seq); err != nil {
			_ = tx.Rollback()
		}
	}
	if err != nil {
		w.fail(fmt.Errorf("the write-ahead log could not open its overlay after a checkpoint, so the store stopped (a restart replays the log): %w", err))
		return
	}
	w.tx, w.dirty = tx, true
}

// counted counts a checkpoint that succeeded and reports it to the
// observer.
func (w *wal) counted(s *Store, writes int, pages int64, d time.Duration) {
	w.checkpoints.Add(1)
	s.pageWrites.Add(pages)
	if fn := s.ckObserver.Load(); fn != nil {
		(*fn)(CheckpointStats{Writes: writes, PageWrites: pages, Duration: d})
	}
}

// checkpoint commits the overlay into bbolt with the next position, after
// the checkpoint in flight if any, so that bbolt holds everything acked.
// A failure fails the store (failed): what the log holds is replayed at
// the next Open.
func (w *wal) checkpoint(s *Store) (pages int64, err error) {
	w.settle(s)
	if err := w.broken(); err != nil {
		return 0, err
	}
	tx, writes, next, ok := w.seal()
	if !ok {
		return 0, w.broken()
	}
	start := time.Now()
	if pages, err = commitTx(tx); err != nil {
		return 0, w.checkpointFailed(err)
	}
	w.pos, w.off = next, int64(next.start)
	w.forget()
	w.counted(s, writes, pages, time.Since(start))
	return pages, nil
}

// recover rolls the overlay back after a failed append or log write and
// commits, in a new transaction, the log's frames before end (what was
// acked), with a new position. A failure fails the store. No checkpoint is
// in flight (the committer settled it before it opened the overlay).
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
	w.genAcks = 0
	clear(w.layer)
	w.headsMu.Lock()
	clear(w.heads)
	w.headsMu.Unlock()
}

// head answers Head for a room with appends not checkpointed.
func (w *wal) head(room string) (int64, bool) {
	w.headsMu.Lock()
	defer w.headsMu.Unlock()
	h, ok := w.heads[room]
	return h.index, ok
}

// close checkpoints and closes the log (the committer's last act).
func (w *wal) close(s *Store) error {
	finishAll(w.later, ErrClosed)
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

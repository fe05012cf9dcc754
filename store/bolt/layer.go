package bolt

// What an append (or a webhook outcome) reads and writes, by the ids of the buckets in a frame of
// the write-ahead log (wal.go): bbolt's write transaction (txKV), or, while
// a checkpoint commits the log's overlay in the background, the log's
// layers of writes over a bbolt read transaction (layerKV).

import (
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

type kv interface {
	// get returns the value of k in the bucket with frame id id, nil when
	// there is none. It is valid until the run ends.
	get(id byte, k []byte) []byte
	put(id byte, k, v []byte) error
	delete(id byte, k []byte) error
	// nextSequence returns the next sequence number of the bucket (the
	// outbox's: its entries are keyed by it).
	nextSequence(id byte) (uint64, error)
	// oldest is readOldest (retention's bucket, which appends only read).
	oldest(room string) (int64, error)
}

// txKV runs an append in a bbolt write transaction; r records its writes
// for the log.
type txKV struct {
	tx *bbolt.Tx
	r  recorder
}

func (t txKV) get(id byte, k []byte) []byte { return t.tx.Bucket(logBuckets[id]).Get(k) }

func (t txKV) put(id byte, k, v []byte) error {
	b, err := logBucket(t.tx, id)
	if err != nil {
		return err
	}
	return t.r.put(b, id, k, v)
}

func (t txKV) delete(id byte, k []byte) error { return t.r.delete(t.tx.Bucket(logBuckets[id]), id, k) }

func (t txKV) nextSequence(id byte) (uint64, error) {
	return t.tx.Bucket(logBuckets[id]).NextSequence()
}

func (t txKV) oldest(room string) (int64, error) { return readOldest(t.tx, room) }

// layer is a set of the log's writes, by layerKey: a put's value, or nil
// for a delete. The values are the ones given to bbolt's Put, which nobody
// changes after.
type layer map[string][]byte

// layerKey is a write's key in a layer: its bucket's id, then its key.
func layerKey(id byte, k []byte) string {
	b := make([]byte, 0, 1+len(k))
	return string(append(append(b, id), k...))
}

// lookup returns what l says of k in bucket id: its value, nil and true
// for a delete, and false when l has no write of it.
func (l layer) lookup(id byte, k []byte) ([]byte, bool) {
	v, ok := l[layerKey(id, k)]
	return v, ok
}

// apply writes l into tx, and the outbox's sequence when it is higher
// than tx's.
func (l layer) apply(tx *bbolt.Tx, outboxSeq uint64) error {
	for key, v := range l {
		b, err := logBucket(tx, key[0])
		if err != nil {
			return err
		}
		k := []byte(key[1:])
		if v == nil {
			err = b.Delete(k)
		} else {
			err = b.Put(k, v)
		}
		if err != nil {
			return err
		}
	}
	if b := tx.Bucket(bucketOutbox); outboxSeq > b.Sequence() {
		return b.SetSequence(outboxSeq)
	}
	return nil
}

// layerKV runs appends while a checkpoint commits the log's overlay: they
// read their batch's writes, then the writes acked since that checkpoint
// began (w.layer), then the overlay being committed (w.frozen), then
// bbolt as it was before it (rtx, which the run must not outlive: a
// checkpoint that grows the file waits for read transactions). Their
// writes go into batch and the frame; the log adds batch to w.layer once
// the frame is synced.
type layerKV struct {
	w     *wal
	batch layer
	rtx   *bbolt.Tx
	seq   uint64 // the outbox's sequence, as the batch left it
}

func (l *layerKV) get(id byte, k []byte) []byte {
	for _, ly := range [...]layer{l.batch, l.w.layer, l.w.frozen} {
		if v, ok := ly.lookup(id, k); ok {
			return v
		}
	}
	return l.rtx.Bucket(logBuckets[id]).Get(k)
}

func (l *layerKV) put(id byte, k, v []byte) error {
	l.w.buf = appendPut(l.w.buf, id, k, v)
	l.batch[layerKey(id, k)] = v
	return nil
}

func (l *layerKV) delete(id byte, k []byte) error {
	l.w.buf = appendDelete(l.w.buf, id, k)
	l.batch[layerKey(id, k)] = nil
	return nil
}

func (l *layerKV) nextSequence(id byte) (uint64, error) {
	if id != logOutbox {
		return 0, fmt.Errorf("bolt: no sequence of bucket %d in the log's layers", id)
	}
	l.seq++
	return l.seq, nil
}

func (l *layerKV) oldest(room string) (int64, error) { return readOldest(l.rtx, room) }

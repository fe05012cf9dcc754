package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/tripsense/tripsense"
)

// pebbleAppender is what an append on pebble would be: pebble has no
// read-write transactions, so index allocation is serialised in the process
// (a mutex and a cache of heads); the message, the head and the dedupe
// record go in one atomic pebble.Batch. The batch is applied to the
// memtable under the mutex (so WAL order = index order and no later index
// can be durable before an earlier one) and the fsync is awaited outside
// it, so concurrent appends share WAL syncs.
type pebbleAppender struct {
	db    *pebble.DB
	mu    sync.Mutex
	heads map[string]int64
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Fatalf(f string, args ...any) { panic(errors.New("pebble fatal: " + f)) }

func openPebbleAppender(b *testing.B) *pebbleAppender {
	b.Helper()
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		b.Fatal(err)
	}
	return &pebbleAppender{db: db, heads: make(map[string]int64)}
}

func (p *pebbleAppender) Close() error { return p.db.Close() }

var (
	pMessage = byte('m')
	pHead    = byte('h')
	pDedupe  = byte('d')
)

func (p *pebbleAppender) Append(ctx context.Context, m tripsense.NewMessage) (tripsense.Message, bool, error) {
	value := encode(m)
	room := lenPrefixed(m.Room)
	dk := append(append(append([]byte{pDedupe}, room...), lenPrefixed(m.UserID)...), m.ClientMsgID...)
	headKey := append([]byte{pHead}, m.Room...)
	out := tripsense.Message{Room: m.Room, UserID: m.UserID, Body: m.Body, Type: m.Type,
		CreateTime: m.CreateTime, ClientMsgID: m.ClientMsgID}

	p.mu.Lock()
	rec, closer, err := p.db.Get(dk)
	switch {
	case err == nil:
		out.Index = int64(binary.BigEndian.Uint64(rec))
		_ = closer.Close()
		p.mu.Unlock()
		// The original may not be synced yet: sync before acknowledging.
		return out, true, p.db.LogData(nil, pebble.Sync)
	case !errors.Is(err, pebble.ErrNotFound):
		p.mu.Unlock()
		return out, false, err
	}
	head, ok := p.heads[m.Room]
	if !ok {
		v, closer, err := p.db.Get(headKey)
		switch {
		case err == nil:
			head = int64(binary.BigEndian.Uint64(v))
			_ = closer.Close()
		case !errors.Is(err, pebble.ErrNotFound):
			p.mu.Unlock()
			return out, false, err
		}
	}
	out.Index = head + 1
	batch := p.db.NewBatch()
	_ = batch.Set(binary.BigEndian.AppendUint64(append([]byte{pMessage}, room...), uint64(out.Index)), value, nil)
	_ = batch.Set(headKey, binary.BigEndian.AppendUint64(nil, uint64(out.Index)), nil)
	_ = batch.Set(dk, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(out.Index)), uint64(time.Now().UnixMilli())), nil)
	if err := p.db.ApplyNoSyncWait(batch, pebble.Sync); err != nil {
		p.mu.Unlock()
		_ = batch.Close()
		return out, false, err
	}
	p.heads[m.Room] = out.Index
	p.mu.Unlock()
	err = batch.SyncWait()
	_ = batch.Close()
	return out, false, err
}

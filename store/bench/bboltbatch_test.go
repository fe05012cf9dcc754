package bench

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
)

// batchAppender is the store/bolt append transaction (head, dedupe lookup,
// message, head, dedupe record) run through bbolt's db.Batch instead of
// the store's committer, to compare the two ways of grouping commits.
type batchAppender struct{ db *bbolt.DB }

var (
	bMessages = []byte("messages")
	bHeads    = []byte("heads")
	bDedupe   = []byte("dedupe")
)

func openBatchAppender(b *testing.B, maxBatch int, delay time.Duration) *batchAppender {
	b.Helper()
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "batch.db"), 0o600, &bbolt.Options{FreelistType: bbolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	if maxBatch > 0 {
		db.MaxBatchSize = maxBatch
		db.MaxBatchDelay = delay
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bMessages, bHeads, bDedupe} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return &batchAppender{db: db}
}

func (a *batchAppender) Close() error { return a.db.Close() }

func (a *batchAppender) Append(ctx context.Context, m tripsense.NewMessage) (tripsense.Message, bool, error) {
	value := encode(m)
	room := lenPrefixed(m.Room)
	dk := append(append(lenPrefixed(m.Room), lenPrefixed(m.UserID)...), m.ClientMsgID...)
	var index int64
	var dup bool
	err := a.db.Batch(func(tx *bbolt.Tx) error {
		index, dup = 0, false // the function may run more than once
		if rec := tx.Bucket(bDedupe).Get(dk); rec != nil {
			index, dup = int64(binary.BigEndian.Uint64(rec)), true
			return nil
		}
		heads := tx.Bucket(bHeads)
		var head int64
		if v := heads.Get([]byte(m.Room)); v != nil {
			head = int64(binary.BigEndian.Uint64(v))
		}
		index = head + 1
		if err := tx.Bucket(bMessages).Put(binary.BigEndian.AppendUint64(append([]byte(nil), room...), uint64(index)), value); err != nil {
			return err
		}
		if err := heads.Put([]byte(m.Room), binary.BigEndian.AppendUint64(nil, uint64(index))); err != nil {
			return err
		}
		rec := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(index)), uint64(time.Now().UnixMilli()))
		return tx.Bucket(bDedupe).Put(dk, rec)
	})
	return tripsense.Message{Room: m.Room, Index: index, UserID: m.UserID, Body: m.Body, Type: m.Type,
		CreateTime: m.CreateTime, ClientMsgID: m.ClientMsgID}, dup, err
}

func lenPrefixed(s string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(s))), s...)
}

// encode is a message encoding of the same shape and cost as store/bolt's.
func encode(m tripsense.NewMessage) []byte {
	b := make([]byte, 0, 32+len(m.UserID)+len(m.Type)+len(m.ClientMsgID)+len(m.Body))
	b = append(b, 1)
	b = append(b, lenPrefixed(m.UserID)...)
	b = append(b, lenPrefixed(m.Type)...)
	b = binary.AppendVarint(b, m.CreateTime.UnixMilli())
	b = append(b, lenPrefixed(m.ClientMsgID)...)
	return append(b, m.Body...)
}

package bolt

import (
	"errors"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// FuzzLogFrame: whatever a frame's payload holds (its CRC can pass on any
// bytes a bug or a crafted file put there), applying it returns an error
// or applies it; it never panics.
func FuzzLogFrame(f *testing.F) {
	f.Add(appendPut(appendDelete(nil, logDedupe, []byte("k")), logMessages, messageKey("r", 1), []byte("v")))
	f.Add(appendPut(nil, logOutbox, []byte{0, 0, 0, 0, 0, 0, 0, 7}, []byte("entry")))
	f.Add(appendPut(nil, logOutbox, []byte("short"), []byte("entry")))
	f.Add([]byte{logDelete | logDedupeByTime, 1, 'k'})
	f.Add([]byte{logMessages, 0xff, 0xff, 0xff})
	f.Add([]byte{0x7f, 0, 0})
	f.Add(appendPut(nil, logHeads, nil, nil))
	db, err := bbolt.Open(filepath.Join(f.TempDir(), "fuzz.db"), 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	rollBack := errors.New("roll back")
	f.Fuzz(func(t *testing.T, payload []byte) {
		err := db.Update(func(tx *bbolt.Tx) error {
			if err := applyFrame(tx, payload); err != nil {
				return err
			}
			return rollBack
		})
		if err == nil {
			t.Fatal("the transaction committed")
		}
	})
}

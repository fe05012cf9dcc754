package bolt_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// TestCursorsWrittenBeforeDevicesAreTheDefaultDevices: a file written
// before cursors had a device (readCursors keyed by user, room) needs no
// migration: those cursors are the default device's, and named devices
// start from nothing.
func TestCursorsWrittenBeforeDevicesAreTheDefaultDevices(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	s := MustOpen(t, path, bolt.Options{})
	storetest.MustAppendN(t, s, "r", "u9", 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The pre-device layout: key uvarint(len(user)) user room, value
	// big-endian lastSeen and updatedAt (ms).
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		key := append(binary.AppendUvarint(nil, uint64(len("u1"))), "u1r"...)
		val := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 6), uint64(time.Now().UnixMilli()))
		return tx.Bucket([]byte("readCursors")).Put(key, val)
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	s = MustOpen(t, path, bolt.Options{})
	t.Cleanup(func() { _ = s.Close() })
	if c := storetest.MustCursor(t, s, "u1", tripsense.DefaultDevice, "r"); c.LastSeen != 6 {
		t.Fatalf("old cursor read as the default device's = %+v, want 6", c)
	}
	if cs := storetest.MustCursors(t, s, "u1", tripsense.DefaultDevice); len(cs) != 1 || cs[0].Room != "r" || cs[0].LastSeen != 6 {
		t.Fatalf("Cursors(u1, default) = %+v, want [r:6]", cs)
	}
	if c := storetest.MustCursor(t, s, "u1", "phone", "r"); c.LastSeen != 0 {
		t.Fatalf("a named device inherited the old cursor: %+v", c)
	}
	if c := storetest.MustAdvanceCursor(t, s, "u1", tripsense.DefaultDevice, "r", 8); c.LastSeen != 8 {
		t.Fatalf("advancing the old cursor = %+v, want 8", c)
	}
}

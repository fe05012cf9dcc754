package bolt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// The meta bucket's keys.
var (
	metaEpoch        = []byte("epoch")
	metaRestoredFrom = []byte("restoredFrom") // the epoch of the backup a restore used
	metaRestoredAt   = []byte("restoredAt")
)

// newEpoch returns a fresh random epoch: 16 lowercase hex digits.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ensureEpoch returns the store's epoch, creating it in tx when the store
// has none (a new store, or one created before epochs existed).
func ensureEpoch(tx *bbolt.Tx) (string, error) {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(metaEpoch); len(v) > 0 {
		return string(v), nil
	}
	e := newEpoch()
	return e, meta.Put(metaEpoch, []byte(e))
}

// Epoch is the store's epoch: a random id created with the store and
// replaced by every Restore. Message indexes, cursors and pagination
// tokens are meaningful only within one epoch: a client that sees a new
// epoch drops what it holds and syncs from scratch (docs/protocol.md).
func (s *Store) Epoch() string { return s.epoch }

// Backup writes a consistent snapshot of the whole store to w, the bytes of
// a bbolt file that Open and Restore read. It runs in one read
// transaction, so writers go on meanwhile (bbolt's copy-on-write pages
// keep the snapshot's pages alive until it ends) and the snapshot holds
// exactly the writes committed before it started. begin, when not nil, is
// called first with the snapshot's size in bytes and the store's epoch (an
// HTTP handler sends its headers there); its error aborts the backup.
func (s *Store) Backup(w io.Writer, begin func(size int64, epoch string) error) (int64, error) {
	var n int64
	if err := s.barrier(context.Background()); err != nil {
		return 0, fmt.Errorf("bolt: backup: %w", err)
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		if begin != nil {
			if err := begin(tx.Size(), s.epoch); err != nil {
				return err
			}
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("bolt: backup: %w", err)
	}
	return n, nil
}

// CheckBackup opens the bbolt file at path read-only and checks that it is
// a whole, consistent Tripsense store: bbolt's page check passes and every
// bucket of the store is there. It returns the backup's epoch.
func CheckBackup(path string) (epoch string, err error) {
	// bbolt maps the file and trusts its meta pages: a truncated file
	// would fault (SIGBUS) on the first page past its end, so the length
	// is checked against both meta pages first.
	if err := checkLength(path); err != nil {
		return "", fmt.Errorf("bolt: %s is not a whole store file: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return "", fmt.Errorf("bolt: %s is not a readable store file: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("it has no %q bucket: not a Tripsense store", name)
			}
		}
		epoch = string(tx.Bucket(bucketMeta).Get(metaEpoch))
		if epoch == "" {
			return errors.New("it has no epoch: not a Tripsense store backup")
		}
		var errs []error
		for e := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, e)
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return "", fmt.Errorf("bolt: check %s: %w", path, err)
	}
	return epoch, nil
}

// checkLength reads the two meta pages of the bbolt file at path and
// checks that the file is as long as each says (high-water page id times
// page size). Layout (go.etcd.io/bbolt's internal/common): a 16-byte page
// header, then magic, version and page size (uint32 each), flags, the root
// bucket (16 bytes), the freelist page id, the high-water page id, the
// transaction id; little-endian on the platforms Tripsense runs on.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	const magic = 0xED0CDAED
	var hdr [64]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return errors.New("shorter than a bbolt header")
	}
	pageSize := int64(binary.LittleEndian.Uint32(hdr[24:]))
	if binary.LittleEndian.Uint32(hdr[16:]) != magic || pageSize < 512 || pageSize > 1<<20 {
		return errors.New("no bbolt meta page at its start")
	}
	for i := int64(0); i < 2; i++ {
		if _, err := f.ReadAt(hdr[:], i*pageSize); err != nil {
			return fmt.Errorf("meta page %d is missing", i)
		}
		if binary.LittleEndian.Uint32(hdr[16:]) != magic {
			continue // a torn meta page: bbolt uses the other one
		}
		if hw := int64(binary.LittleEndian.Uint64(hdr[56:])); hw*pageSize > size {
			return fmt.Errorf("%d bytes, but its meta page %d says %d", size, i, hw*pageSize)
		}
	}
	return nil
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	BackupEpoch string // the epoch the backup had
	Epoch       string // the restored store's new epoch
	Previous    string // where the store that was at path went ("" if none)
}

// Restore replaces the store file at path with the backup file from,
// while no process has path open (it fails with ErrInUse otherwise). The
// backup is checked first (CheckBackup), copied next to path and synced,
// and given a new epoch: clients that synced with the old store, or with
// the backup's store after the backup was taken, may hold indexes the
// restored store reuses for other messages, and the new epoch tells them
// to drop their cursors. The file that was at path is kept beside it as
// path.pre-restore-<UTC time>, never deleted.
func Restore(path, from string, now time.Time) (RestoreResult, error) {
	var res RestoreResult
	backupEpoch, err := CheckBackup(from)
	if err != nil {
		return res, err
	}
	res.BackupEpoch = backupEpoch
	// Nobody may have the store open: take its lock for a moment, and
	// fold its write-ahead log into it, so that the file kept aside holds
	// all it acked and the restored store finds no log.
	if _, err := os.Stat(path); err == nil {
		if err := foldLog(path); errors.Is(err, ErrInUse) {
			return res, fmt.Errorf("bolt: restore %s: %w; stop the server first", path, err)
		}
		// An unreadable file is replaced all the same (that may be why a
		// restore is run); it is kept aside below.
	}
	tmp := path + ".restoring"
	if err := copyFile(tmp, from); err != nil {
		return res, fmt.Errorf("bolt: restore: %w", err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	db, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return res, fmt.Errorf("bolt: restore: open the copy: %w", err)
	}
	res.Epoch = newEpoch()
	for res.Epoch == backupEpoch {
		res.Epoch = newEpoch()
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaEpoch, []byte(res.Epoch)); err != nil {
			return err
		}
		// No frame of a log beside path applies to the backup.
		if err := meta.Delete(metaLogGeneration); err != nil {
			return err
		}
		if err := meta.Put(metaRestoredFrom, []byte(backupEpoch)); err != nil {
			return err
		}
		return meta.Put(metaRestoredAt, []byte(now.UTC().Format(time.RFC3339)))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("bolt: restore: new epoch: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		res.Previous = path + ".pre-restore-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(path, res.Previous); err != nil {
			return res, fmt.Errorf("bolt: restore: keep the old store: %w", err)
		}
		// A log foldLog could not replay (the old file was unreadable)
		// goes with its store: the restored store starts a fresh one.
		if err := os.Rename(logPath(path), logPath(res.Previous)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("bolt: restore: keep the old store's log: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("bolt: restore: %w", err)
	}
	return res, syncDir(filepath.Dir(path))
}

// Compact rewrites the store file at path without its free pages (bbolt's
// file never shrinks by itself: freed pages are reused, not returned),
// while no process has it open, after folding its write-ahead log into it.
// The epoch stays: the data is the same. The file that was at path is kept
// as path.pre-compact-<UTC time>.
func Compact(path string, now time.Time) (before, after int64, kept string, err error) {
	if err := foldLog(path); errors.Is(err, ErrInUse) {
		return 0, 0, "", fmt.Errorf("bolt: compact %s: %w; stop the server first", path, err)
	} else if err != nil {
		return 0, 0, "", fmt.Errorf("bolt: compact: %w", err)
	}
	src, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, bbolt.ErrTimeout) {
		return 0, 0, "", fmt.Errorf("bolt: compact %s: %w; stop the server first", path, ErrInUse)
	}
	if err != nil {
		return 0, 0, "", fmt.Errorf("bolt: compact: %w", err)
	}
	tmp := path + ".compacting"
	_ = os.Remove(tmp)
	dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		src.Close()
		return 0, 0, "", fmt.Errorf("bolt: compact: %w", err)
	}
	err = bbolt.Compact(dst, src, 64<<20)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	src.Close()
	defer os.Remove(tmp)
	if err != nil {
		return 0, 0, "", fmt.Errorf("bolt: compact: %w", err)
	}
	if fi, err := os.Stat(path); err == nil {
		before = fi.Size()
	}
	if fi, err := os.Stat(tmp); err == nil {
		after = fi.Size()
	}
	kept = path + ".pre-compact-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, kept); err != nil {
		return 0, 0, "", fmt.Errorf("bolt: compact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, 0, "", fmt.Errorf("bolt: compact: %w", err)
	}
	return before, after, kept, syncDir(filepath.Dir(path))
}

// foldLog opens the store at path with the log off, which replays the
// write-ahead log into bbolt and removes it, and closes it. It fails with
// ErrInUse while another process has the store open.
func foldLog(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err // not a store to create
	}
	s, err := Open(path, Options{NoLog: true})
	if err != nil {
		return err
	}
	return s.Close()
}

// copyFile copies from to a new file at to and syncs it.
func copyFile(to, from string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	_ = os.Remove(to)
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("bolt: sync %s: %w", dir, err)
	}
	return nil
}

package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// backupUnderLoad fills a store, takes a backup while four writers keep
// appending, and restores it to a fresh path, which it returns with the
// number of messages each room had when the backup finished (an upper
// bound of what the snapshot holds).
func backupUnderLoad(t *testing.T) (restored string, snapshot *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	st := MustOpen(t, filepath.Join(dir, "live.db"), bolt.Options{})
	defer st.Close()
	storetest.MustAddMember(t, st, "bak-load", "loader")
	// Entries written now: the conformance suite run on the restored store
	// prunes by time (RetentionEdges) and must find only its own entries
	// old enough.
	for i := range 50 {
		storetest.MustAppendNew(t, st, tripsense.NewMessage{Room: "bak-load", UserID: "loader", Body: fmt.Sprintf("message %d", i+1), Type: "text message", CreateTime: time.Now()})
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var appended atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && !stop.Load(); i++ {
				nm := tripsense.NewMessage{Room: fmt.Sprintf("bak-load%d", w%2), UserID: "loader", Body: "under load", Type: "text", ClientMsgID: fmt.Sprintf("w%d-%d", w, i), CreateTime: time.Now()}
				if _, _, err := st.Append(context.Background(), nm); err != nil {
					t.Error(err)
					return
				}
				if appended.Add(1) == 20 {
					once.Do(func() { close(started) })
				}
			}
		}()
	}
	// Back up once the writers are going.
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the writers did not start")
	}
	var buf bytes.Buffer
	var size int64
	var epoch string
	n, err := st.Backup(&buf, func(sz int64, e string) error { size, epoch = sz, e; return nil })
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n != size || int64(buf.Len()) != n || epoch != st.Epoch() || epoch == "" {
		t.Fatalf("backup wrote %d bytes (buffer %d), announced %d; epoch %q, store's %q", n, buf.Len(), size, epoch, st.Epoch())
	}
	from := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(from, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored = filepath.Join(t.TempDir(), "tripsense.db")
	res, err := bolt.Restore(restored, from, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.BackupEpoch != epoch || res.Epoch == epoch || res.Epoch == "" || res.Previous != "" {
		t.Fatalf("restore: %+v, backup epoch %q", res, epoch)
	}
	return restored, &buf
}

// TestBackupUnderLoadRestoresToAConformingStore: the store suite, reopen
// checks included, passes on stores restored from backups taken while
// writers were appending.
func TestBackupUnderLoadRestoresToAConformingStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path, _ := backupUnderLoad(t)
		return func(t *testing.T) tripsense.Store { return MustOpen(t, path, bolt.Options{}) }
	})
}

// TestBackupIsAConsistentSnapshot: every room of the restored store is a
// gap-free prefix of what was written (heads agree with the messages), and
// a retry of a restored message is still a duplicate.
func TestBackupIsAConsistentSnapshot(t *testing.T) {
	t.Parallel()
	path, _ := backupUnderLoad(t)
	st := MustOpen(t, path, bolt.Options{})
	defer st.Close()
	if h := storetest.MustHead(t, st, "bak-load"); h != 50 {
		t.Fatalf("head of the room written before the backup: %d, want 50", h)
	}
	for _, room := range []string{"bak-load0", "bak-load1"} {
		head := storetest.MustHead(t, st, room)
		var all []tripsense.Message
		for after := int64(0); ; {
			page := storetest.MustMessagesAfter(t, st, room, after, tripsense.MaxPageLimit)
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1].Index
		}
		if int64(len(all)) != head {
			t.Fatalf("%s: head %d, %d messages", room, head, len(all))
		}
		for i, m := range all {
			if m.Index != int64(i+1) {
				t.Fatalf("%s: message %d has index %d", room, i, m.Index)
			}
		}
		if head > 0 {
			first := all[0]
			retry, dup := storetest.MustAppend(t, st, tripsense.NewMessage{Room: room, UserID: "loader", Body: "retry", Type: "text", ClientMsgID: first.ClientMsgID})
			if !dup || retry.Index != first.Index {
				t.Fatalf("%s: retry of %q: %+v dup=%v", room, first.ClientMsgID, retry, dup)
			}
		}
	}
}

// TestRestoreRefusesWhatIsNotABackup and a store in use; the old store is
// kept beside the restored one; the epoch survives a reopen and changes
// with a restore.
func TestRestoreRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tripsense.db")
	st := MustOpen(t, path, bolt.Options{})
	epoch := st.Epoch()
	if len(epoch) != 16 {
		t.Fatalf("epoch %q", epoch)
	}
	var buf bytes.Buffer
	if _, err := st.Backup(&buf, nil); err != nil {
		t.Fatal(err)
	}
	from := filepath.Join(dir, "b.db")
	if err := os.WriteFile(from, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// In use: refused, and nothing changed.
	if _, err := bolt.Restore(path, from, time.Now()); !errors.Is(err, bolt.ErrInUse) {
		t.Fatalf("restore over an open store: %v, want ErrInUse", err)
	}
	if _, err := bolt.Open(path, bolt.Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, bolt.ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
	st.Close()
	st = MustOpen(t, path, bolt.Options{})
	if st.Epoch() != epoch {
		t.Fatalf("epoch after reopen %q, want %q", st.Epoch(), epoch)
	}
	st.Close()
	// Not a backup: refused.
	junk := filepath.Join(dir, "junk")
	_ = os.WriteFile(junk, bytes.Repeat([]byte("x"), 8192), 0o600)
	if _, err := bolt.Restore(path, junk, time.Now()); err == nil {
		t.Fatal("restored from junk")
	}
	trunc := filepath.Join(dir, "trunc")
	_ = os.WriteFile(trunc, buf.Bytes()[:buf.Len()/2], 0o600)
	if _, err := bolt.Restore(path, trunc, time.Now()); err == nil {
		t.Fatal("restored from a truncated backup")
	}
	res, err := bolt.Restore(path, from, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if res.Previous != path+".pre-restore-20260102T030405Z" || res.BackupEpoch != epoch || res.Epoch == epoch {
		t.Fatalf("%+v", res)
	}
	if _, err := os.Stat(res.Previous); err != nil {
		t.Fatal(err)
	}
	st = MustOpen(t, path, bolt.Options{})
	defer st.Close()
	if st.Epoch() != res.Epoch {
		t.Fatalf("epoch after restore %q, want %q", st.Epoch(), res.Epoch)
	}
}

// TestCompactKeepsDataAndEpoch: compaction shrinks a file with free pages
// and keeps every message and the epoch.
func TestCompactKeepsDataAndEpoch(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tripsense.db")
	st := MustOpen(t, path, bolt.Options{})
	storetest.MustAppendN(t, st, "r", "u", 300)
	for i := range 200 {
		storetest.MustAddMember(t, st, fmt.Sprintf("room%d", i), "u")
	}
	for i := range 200 {
		storetest.MustRemoveMember(t, st, fmt.Sprintf("room%d", i), "u")
	}
	epoch := st.Epoch()
	if _, _, _, err := bolt.Compact(path, time.Now()); !errors.Is(err, bolt.ErrInUse) {
		t.Fatalf("compact of an open store: %v", err)
	}
	st.Close()
	before, after, kept, err := bolt.Compact(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if after <= 0 || after > before || kept == "" {
		t.Fatalf("before %d after %d kept %q", before, after, kept)
	}
	st = MustOpen(t, path, bolt.Options{})
	defer st.Close()
	if st.Epoch() != epoch || storetest.MustHead(t, st, "r") != 300 || len(storetest.MustMessagesAfter(t, st, "r", 0, 1000)) != 300 {
		t.Fatalf("after compaction: epoch %q (want %q), head %d", st.Epoch(), epoch, storetest.MustHead(t, st, "r"))
	}
}

// A backup streams from one read transaction for as long as its reader
// takes. bbolt cannot grow its memory map while a read transaction is
// open, so with bbolt's default map (as large as the file, doubled as it
// grows) a growing store would stop every write until a slow backup
// client finished. The store maps Options.InitialMmapSize up front, and
// writes go on.
func TestBackupToASlowReaderDoesNotStopWrites(t *testing.T) {
	t.Parallel()
	s, _ := openNew(t, bolt.Options{})
	storetest.MustAppendN(t, s, "r", "u", 10)
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pr.Close() }) // before the store closes: a failed test must not leave the backup waiting
	began := make(chan int64, 1)
	backedUp := make(chan error, 1)
	go func() {
		_, err := s.Backup(pw, func(size int64, _ string) error { began <- size; return nil })
		pw.CloseWithError(err)
		backedUp <- err
	}()
	var before int64
	select {
	case before = <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no backup after 10s")
	}
	// Nothing reads the backup yet: it holds its read transaction open.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	body := strings.Repeat("x", 2000)
	var queued []tripsense.QueuedAppend
	for i := range 4000 {
		queued = append(queued, s.AppendQueued(ctx, tripsense.NewMessage{Room: fmt.Sprint("room-", i%8), UserID: "u", Body: body, Type: "text"}))
	}
	for i, q := range queued {
		if _, _, err := q.Result(); err != nil {
			t.Fatalf("append %d of %d, while a backup waits for its reader: %v", i+1, len(queued), err)
		}
	}
	// The second backup's barrier makes bbolt hold them all.
	var grown int64
	if _, err := s.Backup(io.Discard, func(size int64, _ string) error { grown = size; return nil }); err != nil {
		t.Fatal(err)
	}
	if grown < before+4000*2000 {
		t.Fatalf("the store's data grew from %d to %d bytes, want 8 MB more", before, grown)
	}
	n, err := io.Copy(io.Discard, pr)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-backedUp; err != nil || n != before {
		t.Fatalf("backup: %d bytes, %v; want the %d of the store when it began", n, err, before)
	}
}

// The map is at least InitialMmapSize, and twice a store file larger than
// half of it, so a large store can still double during a backup.
func TestTheMapIsTwiceALargeStore(t *testing.T) {
	t.Parallel()
	if strconv.IntSize < 64 {
		t.Skip("no 8 GiB map on a 32-bit platform")
	}
	const gib = 1 << 30
	for _, c := range []struct {
		size, want int64
	}{{0, 8 * gib}, {16 << 20, 8 * gib}, {4 * gib, 8 * gib}, {5 * gib, 10 * gib}, {40 * gib, 80 * gib}} {
		if got := bolt.MmapSizeForTest(8*gib, c.size); got != c.want {
			t.Errorf("the map of a %d-byte file is %d bytes, want %d", c.size, got, c.want)
		}
	}
}

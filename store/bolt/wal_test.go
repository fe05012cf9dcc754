package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// noCheckpoints keeps every append in the log until Close.
var noCheckpoints = bolt.Options{CheckpointAppends: 1 << 30, CheckpointInterval: time.Hour, Outbox: true}

// openNew opens a store with opts in a new directory, closed at the
// test's end, and returns it and its path.
func openNew(t *testing.T, opts bolt.Options) (*bolt.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tripsense.db")
	s := MustOpen(t, path, opts)
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// crashCopy copies the store file at path and its log into a new directory
// while the store is open and idle, as a crash would leave them: bbolt's
// file holds the last checkpoint (the overlay's pages are only in memory),
// the log what was acked since. It returns the copy's store path.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "tripsense.db")
	for _, suffix := range []string{"", ".wal"} {
		copyFileT(t, to+suffix, path+suffix)
	}
	return to
}

func copyFileT(t *testing.T, to, from string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// reopenFromLog checks that s, open at path, has not checkpointed yet (so
// all it acked is in its log), opens a crash image of it with opts (the
// copy is closed at the test's end), and checks that Open replayed frames
// frames from the log.
func reopenFromLog(t *testing.T, s *bolt.Store, path string, opts bolt.Options, frames int64) *bolt.Store {
	t.Helper()
	if st := s.Stats(); st.Checkpoints != 0 {
		t.Fatalf("%d checkpoints: the test needs all that was acked in the log", st.Checkpoints)
	}
	c := MustOpen(t, crashCopy(t, path), opts)
	t.Cleanup(func() { _ = c.Close() })
	if st := c.Stats(); st.Replayed != frames {
		t.Fatalf("replayed %d frames, want %d", st.Replayed, frames)
	}
	return c
}

// logEnd counts the bytes s's commits wrote to the log (where its next
// frame goes while no checkpoint came).
func logEnd(s *bolt.Store) *atomic.Int64 {
	var end atomic.Int64
	s.ObserveCommits(func(c bolt.CommitStats) { end.Add(c.LogBytes) })
	return &end
}

// The log alone holds what was acked since the last checkpoint, and Open
// replays all of it: messages, heads, events applied to their targets,
// dedupe records and outbox entries (with the outbox's sequence).
func TestLogReplaysWhatACrashLeftInIt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, path := openNew(t, noCheckpoints)
	var sent []tripsense.Message
	for i := range 30 {
		sent = append(sent, storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: fmt.Sprint("room-", i%3), UserID: "u",
			Body: fmt.Sprint("message ", i), Type: "text", ClientMsgID: fmt.Sprint("c", i)}))
	}
	edit := storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "room-0", UserID: "u", Body: "edited",
		Kind: tripsense.KindEdit, Target: sent[0].Index})
	c := reopenFromLog(t, s, path, bolt.Options{Outbox: true}, 31) // 31 commits
	for r := range 3 {
		room := fmt.Sprint("room-", r)
		want := int64(10)
		if r == 0 {
			want = 11
		}
		if head := storetest.MustHead(t, c, room); head != want {
			t.Fatalf("%s: head %d, want %d", room, head, want)
		}
	}
	got := storetest.MustMessagesAfter(t, c, "room-0", 0, 100)
	if len(got) != 11 || got[0].Body != "edited" || len(got[0].Edits) != 1 || got[10].Index != edit.Index || got[10].Kind != tripsense.KindEdit {
		t.Fatalf("room-0 after replay: %+v", got)
	}
	// The dedupe records came back: a retry is a duplicate with its index.
	m, dup := storetest.MustAppend(t, c, tripsense.NewMessage{Room: sent[7].Room, UserID: "u", Body: "retry", Type: "text", ClientMsgID: "c7"})
	if !dup || m.Index != sent[7].Index {
		t.Fatalf("retry of c7: #%d dup=%v, want #%d dup", m.Index, dup, sent[7].Index)
	}
	// The outbox's entries and sequence came back: the next entry follows them.
	storetest.MustAppendNew(t, c, tripsense.NewMessage{Room: "room-1", UserID: "u", Body: "after", Type: "text"})
	es, err := c.OutboxList(ctx, 100)
	if err != nil || len(es) != 32 {
		t.Fatalf("outbox: %d entries, %v", len(es), err)
	}
	for i, e := range es {
		if e.Seq != uint64(i)+1 {
			t.Fatalf("outbox entry %d has seq %d", i, e.Seq)
		}
	}
}

// A frame whose write did not finish (it was never acked) ends the log:
// the frames before it are replayed, it is not.
func TestLogStopsAtATornFrame(t *testing.T) {
	t.Parallel()
	s, path := openNew(t, noCheckpoints)
	end := logEnd(s)
	storetest.MustAppendN(t, s, "r", "u", 5)
	copyPath := crashCopy(t, path)
	f, err := os.OpenFile(copyPath+".wal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	if _, err := f.ReadAt(b, end.Load()-1); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff // the last byte of the last frame
	if _, err := f.WriteAt(b, end.Load()-1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := MustOpen(t, copyPath, bolt.Options{})
	defer c.Close()
	if st := c.Stats(); st.Replayed != 4 {
		t.Fatalf("replayed %d frames, want the 4 before the torn one", st.Replayed)
	}
	if head := storetest.MustHead(t, c, "r"); head != 4 {
		t.Fatalf("head %d, want 4", head)
	}
	// The room goes on gap-free from there.
	if m := storetest.MustAppendNew(t, c, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"}); m.Index != 5 {
		t.Fatalf("next index %d, want 5", m.Index)
	}
}

// Frames from before a checkpoint stay in the log's file (it is written
// from its start again) but are never applied again: here they would bring
// back the bodies an erasure removed after them.
func TestLogNeverReappliesCheckpointedFrames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tripsense.db")
	s := MustOpen(t, path, noCheckpoints)
	storetest.MustAppendN(t, s, "r", "u", 5)
	// The erasure checkpoints the appends first, then rewrites them in bbolt.
	if e, err := s.EraseUser(ctx, "u"); err != nil || e.Messages != 5 {
		t.Fatalf("erase: %+v %v", e, err)
	}
	if st := s.Stats(); st.Checkpoints != 1 {
		t.Fatalf("%d checkpoints, want the erasure's 1", st.Checkpoints)
	}
	c := MustOpen(t, crashCopy(t, path), bolt.Options{})
	if st := c.Stats(); st.Replayed != 0 {
		t.Fatalf("replayed %d frames of before the checkpoint", st.Replayed)
	}
	for _, m := range storetest.MustMessagesAfter(t, c, "r", 0, 10) {
		if m.Body != "" {
			t.Fatalf("#%d has its body %q back", m.Index, m.Body)
		}
	}
	_ = c.Close()
	// The same after a clean close and reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = MustOpen(t, path, bolt.Options{})
	defer s.Close()
	if st := s.Stats(); st.Replayed != 0 {
		t.Fatalf("replayed %d frames after a clean close", st.Replayed)
	}
	for _, m := range storetest.MustMessagesAfter(t, s, "r", 0, 10) {
		if m.Body != "" {
			t.Fatalf("#%d has its body %q back after reopen", m.Index, m.Body)
		}
	}
}

// An append that fails in the overlay takes none of the others with it:
// the overlay is rolled back, the log's frames are checkpointed, and the
// batch runs again without it.
func TestLogKeepsAckedAppendsWhenOneFails(t *testing.T) {
	t.Parallel()
	s, path := openNew(t, noCheckpoints)
	storetest.MustAppendN(t, s, "r", "u", 3)
	// A message of room "bad" whose key is there but whose value is not a
	// message: a reply to it fails while its rule reads it.
	if err := bolt.PutRawMessageForTest(s, "bad", 1, []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	storetest.MustAppendN(t, s, "r", "u", 2) // in the log again
	_, _, err := s.Append(t.Context(), tripsense.NewMessage{Room: "bad", UserID: "u", Body: "re", Type: "t", ReplyTo: 1})
	if err == nil || errors.Is(err, bolt.ErrClosed) {
		t.Fatalf("append of a reply to a corrupt message: %v", err)
	}
	if m := storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"}); m.Index != 6 {
		t.Fatalf("next index of r is %d, want 6", m.Index)
	}
	c := MustOpen(t, crashCopy(t, path), bolt.Options{})
	defer c.Close()
	if head := storetest.MustHead(t, c, "r"); head != 6 {
		t.Fatalf("after a crash, head of r is %d, want 6", head)
	}
	if got := storetest.MustMessagesAfter(t, c, "r", 0, 10); len(got) != 6 {
		t.Fatalf("after a crash, r has %d messages", len(got))
	}
}

// A log smaller than a frame: bbolt commits every batch itself (a
// checkpoint), and nothing is lost.
func TestLogFullCheckpoints(t *testing.T) {
	t.Parallel()
	s, path := openNew(t, bolt.Options{LogBytes: 600, CheckpointAppends: 1 << 30, CheckpointInterval: time.Hour})
	for i := range 10 {
		storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: fmt.Sprintf("%0200d", i), Type: "t"})
	}
	if st := s.Stats(); st.Checkpoints < 3 {
		t.Fatalf("%d checkpoints of a log that holds 2 frames", st.Checkpoints)
	}
	c := MustOpen(t, crashCopy(t, path), bolt.Options{})
	defer c.Close()
	if got := storetest.MustMessagesAfter(t, c, "r", 0, 20); len(got) != 10 || got[9].Body != fmt.Sprintf("%0200d", 9) {
		t.Fatalf("after a crash: %d messages", len(got))
	}
}

// An idle store checkpoints within CheckpointInterval.
func TestLogCheckpointsWhenIdle(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, filepath.Join(t.TempDir(), "tripsense.db"), bolt.Options{CheckpointInterval: time.Millisecond})
	defer s.Close()
	done := make(chan bolt.CheckpointStats, 1)
	s.ObserveCheckpoints(func(c bolt.CheckpointStats) {
		select {
		case done <- c:
		default:
		}
	})
	storetest.MustAppendN(t, s, "r", "u", 1)
	select {
	case c := <-done:
		if c.Writes != 1 || c.PageWrites < 3 {
			t.Fatalf("checkpoint %+v, want the one append", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no checkpoint of an idle store in 10s")
	}
	if st := s.Stats(); st.Checkpoints != 1 {
		t.Fatalf("Stats %+v", st)
	}
}

// Opened with the log off, a store still replays what its log holds.
func TestNoLogReplaysTheLog(t *testing.T) {
	t.Parallel()
	s, path := openNew(t, noCheckpoints)
	storetest.MustAppendN(t, s, "r", "u", 4)
	copyPath := crashCopy(t, path)
	c := MustOpen(t, copyPath, bolt.Options{NoLog: true})
	if st := c.Stats(); st.Replayed != 4 || storetest.MustHead(t, c, "r") != 4 {
		t.Fatalf("replayed %d, head %d", st.Replayed, storetest.MustHead(t, c, "r"))
	}
	storetest.MustAppendN(t, c, "r", "u", 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(copyPath + ".wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the log is still there with the log off: %v", err)
	}
	c = MustOpen(t, copyPath, bolt.Options{})
	defer c.Close()
	if head := storetest.MustHead(t, c, "r"); head != 5 {
		t.Fatalf("head %d, want 5", head)
	}
}

// Restore folds the log of the store it replaces into the file it keeps
// aside, and the restored store never replays that log.
func TestRestoreFoldsTheLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path, backup := filepath.Join(dir, "tripsense.db"), filepath.Join(dir, "backup.db")
	s := MustOpen(t, path, noCheckpoints)
	storetest.MustAppendN(t, s, "r", "u", 2)
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	storetest.MustAppendN(t, s, "r", "u", 3) // after the backup, in the log only
	crashed := crashCopy(t, path)
	s.Close()
	res, err := bolt.Restore(crashed, backup, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := MustOpen(t, crashed, bolt.Options{})
	if head := storetest.MustHead(t, r, "r"); head != 2 {
		t.Fatalf("restored head %d, want the backup's 2", head)
	}
	_ = r.Close()
	p := MustOpen(t, res.Previous, bolt.Options{})
	defer p.Close()
	if head, err := p.Head(ctx, "r"); err != nil || head != 5 {
		t.Fatalf("the store kept aside has head %d (%v), want 5", head, err)
	}
}

// The prune of expired dedupe records goes through the log too (a prune
// does not checkpoint it), and its deletes are replayed.
func TestLogReplaysDedupePrunes(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	opts := noCheckpoints
	opts.Now = func() time.Time { return time.UnixMilli(now.Load()) }
	opts.DedupePruneInterval = time.Minute
	s, path := openNew(t, opts)
	var writes atomic.Int64
	pruned := make(chan struct{})
	s.ObserveCommits(func(c bolt.CommitStats) {
		if writes.Add(int64(c.Writes)) == 7 {
			close(pruned)
		}
	})
	for i := range 5 {
		storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: fmt.Sprint("c", i)})
	}
	now.Add((tripsense.DedupeTTL + time.Hour).Milliseconds())
	// This append finds the last prune older than DedupePruneInterval and
	// queues one: it deletes the 5 expired records.
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: "fresh"})
	select {
	case <-pruned:
	case <-time.After(10 * time.Second):
		t.Fatalf("the prune was not committed in 10s: %+v", s.Stats())
	}
	c := reopenFromLog(t, s, path, opts, 7) // 6 appends and the prune, which did not checkpoint
	if n, err := bolt.DedupeRecordsForTest(c); err != nil || n != 1 {
		t.Fatalf("%d dedupe records after replay (%v), want only the fresh one", n, err)
	}
}

// A read waits for the checkpoint of the acked appends only as long as
// its context allows.
func TestLogReadBarrierHonoursItsContext(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, filepath.Join(t.TempDir(), "tripsense.db"), noCheckpoints)
	defer s.Close()
	storetest.MustAppendN(t, s, "r", "u", 1) // acked, in the log only
	entered, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	// The next commit stalls in the committer, as a slow disk would.
	s.ObserveCommits(func(bolt.CommitStats) {
		if once.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	})
	appended := make(chan error, 1)
	go func() {
		_, _, err := s.Append(context.Background(), tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
		appended <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.MessagesAfter(ctx, "r", 0, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read behind a stalled committer: %v, want its deadline", err)
	}
	// Reads of what appends do not write never wait.
	if _, err := s.IsMember(t.Context(), "u", "r"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if got := storetest.MustMessagesAfter(t, s, "r", 0, 10); len(got) != 2 {
		t.Fatalf("%d messages after the stall, want 2", len(got))
	}
}

// A batch of duplicates writes no frame and leaves nothing to checkpoint.
func TestLogDuplicatesWriteNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tripsense.db")
	s := MustOpen(t, path, bolt.Options{})
	m := tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: "c"}
	storetest.MustAppendNew(t, s, m)
	storetest.MustMessagesAfter(t, s, "r", 0, 1) // checkpoints it
	before := s.Stats()
	var seen []bolt.CommitStats
	s.ObserveCommits(func(c bolt.CommitStats) { seen = append(seen, c) })
	if _, dup := storetest.MustAppend(t, s, m); !dup {
		t.Fatal("not a duplicate")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].LogBytes != 0 || seen[0].PageWrites != 0 {
		t.Fatalf("commits of a duplicate: %+v", seen)
	}
	if after := s.Stats(); after.Checkpoints != before.Checkpoints || after.PageWrites != before.PageWrites {
		t.Fatalf("a duplicate was checkpointed: %+v, before %+v", after, before)
	}
}

// Reads made right after each ack, from many goroutines at once (so that
// read barriers share batches with appends), see what was acked.
func TestLogReadsSeeEveryAck(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, filepath.Join(t.TempDir(), "tripsense.db"), bolt.Options{})
	defer s.Close()
	ctx := t.Context()
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			room := fmt.Sprint("room-", g%2)
			for i := range 50 {
				m, _, err := s.Append(ctx, tripsense.NewMessage{Room: room, UserID: "u", Body: fmt.Sprint(g, "-", i), Type: "t"})
				if err != nil {
					errs <- err
					return
				}
				got, err := s.MessagesAfter(ctx, room, m.Index-1, 1)
				if err != nil || len(got) != 1 || got[0].Body != m.Body {
					errs <- fmt.Errorf("read after the ack of %s#%d: %v %v", room, m.Index, got, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A store Restore cannot open keeps its log beside the file kept aside.
func TestRestoreKeepsTheLogOfAnUnreadableStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, backup := filepath.Join(dir, "tripsense.db"), filepath.Join(dir, "backup.db")
	s := MustOpen(t, backup, bolt.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not a bbolt file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".wal", []byte("its log"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := bolt.Restore(path, backup, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(res.Previous + ".wal"); err != nil || string(b) != "its log" {
		t.Fatalf("the log kept aside: %q %v", b, err)
	}
	if _, err := os.Stat(path + ".wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the restored store has the old log: %v", err)
	}
}

// The webhook dispatcher's outcomes go through the log too (they do not
// checkpoint it), and are replayed: a delivered entry stays gone, a failed
// one stays in the failed bucket.
func TestLogReplaysOutboxOutcomes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, path := openNew(t, noCheckpoints)
	storetest.MustAppendN(t, s, "r", "u", 3)
	if err := s.OutboxDone(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxUpdate(ctx, tripsense.OutboxEntry{Seq: 2, Attempts: 9, Failed: true, LastError: "gone for good"}); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxUpdate(ctx, tripsense.OutboxEntry{Seq: 3, Attempts: 1, NextAt: time.UnixMilli(1e12), LastError: "503"}); err != nil {
		t.Fatal(err)
	}
	c := reopenFromLog(t, s, path, bolt.Options{Outbox: true}, 6) // 3 appends and 3 outcomes, no checkpoint
	es, err := c.OutboxList(ctx, 10)
	if err != nil || len(es) != 2 {
		t.Fatalf("outbox after replay: %+v %v", es, err)
	}
	if e := es[0]; e.Seq != 3 || e.Failed || e.Attempts != 1 || e.LastError != "503" {
		t.Errorf("pending entry after replay: %+v", e)
	}
	if e := es[1]; e.Seq != 2 || !e.Failed || e.Attempts != 9 {
		t.Errorf("failed entry after replay: %+v", e)
	}
}

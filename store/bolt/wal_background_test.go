package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// A checkpoint held before bbolt's commit, one at a time (released by a
// send on release), as a slow disk would hold it.
// When the test ends, they are released (before the store is closed, if
// the test closes it with t.Cleanup, as it must).
type heldCheckpoints struct {
	entered chan struct{}
	release chan struct{}
	landed  atomic.Int64  // checkpoints that succeeded (ObserveCheckpoints)
	notify  chan struct{} // a send, without waiting, after each of them
}

// waitLanded waits until n checkpoints succeeded in all.
func (h *heldCheckpoints) waitLanded(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for h.landed.Load() < n {
		select {
		case <-h.notify:
		case <-deadline:
			t.Fatalf("%d checkpoints after 10s, want %d", h.landed.Load(), n)
		}
	}
}

func holdCheckpoints(t *testing.T, s *bolt.Store) *heldCheckpoints {
	h := &heldCheckpoints{entered: make(chan struct{}), release: make(chan struct{}), notify: make(chan struct{}, 1)}
	s.ObserveCheckpoints(func(bolt.CheckpointStats) {
		h.landed.Add(1)
		select {
		case h.notify <- struct{}{}:
		default:
		}
	})
	end := make(chan struct{})
	t.Cleanup(func() { close(end) })
	bolt.SetBeforeCheckpointForTest(s, func() {
		select {
		case h.entered <- struct{}{}:
		case <-end:
			return
		}
		select {
		case <-h.release:
		case <-end:
		}
	})
	return h
}

// heldOpts are the options of the tests of held checkpoints: the 8th
// logged write starts a checkpoint, and nothing else does.
var heldOpts = bolt.Options{CheckpointAppends: 8, CheckpointInterval: time.Hour, DedupePruneInterval: time.Hour}

// openHeld opens a new store with opts whose checkpoints are held, closed
// at the test's end after they are released, and returns its path.
func openHeld(t *testing.T, opts bolt.Options) (*bolt.Store, *heldCheckpoints, string) {
	s, path := openNew(t, opts)
	return s, holdCheckpoints(t, s), path
}

// withOutbox is opts recording outbox entries.
func withOutbox(opts bolt.Options) bolt.Options {
	opts.Outbox = true
	return opts
}

func waitFor(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s after 10s", what)
	}
}

// The log goes on while a checkpoint commits in the background: appends
// are acked from the log's other region, they read the overlay being
// committed (dedupe records, an edit's target, heads, the outbox's
// sequence), Head answers without waiting, and reads of messages wait for
// the checkpoint. A crash at that moment loses nothing acked: Open
// replays both regions. Three rounds, so that the regions take turns and
// a region's stale frames end its replay.
func TestLogGoesOnWhileACheckpointCommits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	opts := withOutbox(heldOpts)
	s, held, path := openHeld(t, opts)

	n := 0
	send := func(room, body string) tripsense.Message {
		n++
		return storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "u", Body: body, Type: "text", ClientMsgID: fmt.Sprint("c", n)})
	}
	for round := range 3 {
		// Fill the overlay: its 8th write starts the checkpoint, which
		// is held before bbolt commits.
		var frozen []tripsense.Message
		for i := range 8 {
			frozen = append(frozen, send("a", fmt.Sprint("round ", round, " frozen ", i)))
		}
		waitFor(t, held.entered, "checkpoint")

		// Appends go on meanwhile.
		shadow := send("a", fmt.Sprint("round ", round, " during"))
		send("b", fmt.Sprint("round ", round, " in b"))
		storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "a", UserID: "u", Body: fmt.Sprint("round ", round, " edited"),
			Kind: tripsense.KindEdit, Target: frozen[0].Index})
		for _, m := range []tripsense.Message{frozen[1], shadow} {
			got, dup := storetest.MustAppend(t, s, tripsense.NewMessage{Room: "a", UserID: "u", Body: "retry", Type: "text", ClientMsgID: m.ClientMsgID})
			if !dup || got.Index != m.Index {
				t.Fatalf("round %d: retry of %s: #%d dup=%v, want #%d", round, m.ClientMsgID, got.Index, dup, m.Index)
			}
		}
		if h := storetest.MustHead(t, s, "a"); h != shadow.Index+1 {
			t.Fatalf("round %d: head of a %d while the checkpoint is held, want %d", round, h, shadow.Index+1)
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := s.MessagesAfter(short, "a", 0, 10)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("round %d: a read while the checkpoint is held: %v, want it to wait", round, err)
		}
		image := crashCopy(t, path)

		held.release <- struct{}{}
		// The checkpoint, and a second one that the read's barrier
		// queued for what came meanwhile (in the committer, not held).
		held.waitLanded(t, int64(2*(round+1)))

		c := MustOpen(t, image, opts)
		if st := c.Stats(); st.Replayed == 0 {
			t.Fatalf("round %d: nothing replayed", round)
		}
		for _, room := range []string{"a", "b"} {
			want := storetest.MustMessagesAfter(t, s, room, 0, 1000)
			if got := storetest.MustMessagesAfter(t, c, room, 0, 1000); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: room %s after the crash:\n%+v\nwant what the store acked:\n%+v", round, room, got, want)
			}
		}
		want, err := s.OutboxList(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.OutboxList(ctx, 1000)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: outbox after the crash: %v\n%+v\nwant\n%+v", round, err, got, want)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A crash after the background checkpoint committed, with appends acked
// meanwhile in the log's other region and not yet in bbolt: Open replays
// that region.
func TestLogReplaysTheRegionWrittenDuringACheckpoint(t *testing.T) {
	t.Parallel()
	opts := heldOpts
	s, held, path := openHeld(t, opts)
	storetest.MustAppendN(t, s, "r", "u", 8)
	waitFor(t, held.entered, "checkpoint")
	storetest.MustAppendN(t, s, "r", "u", 3)
	held.release <- struct{}{}
	held.waitLanded(t, 1)
	if h := storetest.MustHead(t, s, "r"); h != 11 {
		t.Fatalf("head %d, want 11", h)
	}
	c := MustOpen(t, crashCopy(t, path), opts)
	defer c.Close()
	if st := c.Stats(); st.Replayed != 3 {
		t.Fatalf("replayed %d frames, want the 3 written while the checkpoint committed", st.Replayed)
	}
	if h := storetest.MustHead(t, c, "r"); h != 11 {
		t.Fatalf("head after the crash %d, want 11", h)
	}
	if got := storetest.MustMessagesAfter(t, c, "r", 0, 100); len(got) != 11 || got[10].Body != "message 3" {
		t.Fatalf("after the crash: %+v", got)
	}
}

// A dedupe prune queued while a checkpoint commits in the background is
// set aside until the checkpoint lands, and the appends of its batch and
// after it go on; it runs then.
func TestLogSetsAPruneAsideWhileACheckpointCommits(t *testing.T) {
	t.Parallel()
	s, held, _ := openHeld(t, heldOpts)
	send := func(i int) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, _, err := s.Append(ctx, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t", ClientMsgID: fmt.Sprint("c", i)}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	for i := range 8 {
		send(i)
	}
	waitFor(t, held.entered, "checkpoint")
	pruned := bolt.QueuePruneForTest(s, time.Now().Add(2*tripsense.DedupeTTL)) // every record expired by then
	send(8)
	send(9) // acked while the checkpoint is held: the prune did not stop the committer
	if waits := s.Stats().CheckpointWaits; waits != 0 {
		t.Fatalf("the committer waited %d times for the checkpoint", waits)
	}
	held.release <- struct{}{}
	held.waitLanded(t, 1)
	select {
	case err := <-pruned:
		if err != nil {
			t.Fatalf("prune: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the prune set aside never ran")
	}
	storetest.MustMessagesAfter(t, s, "r", 0, 100) // its barrier checkpoints the prune's deletes
	if n, err := bolt.DedupeRecordsForTest(s); err != nil || n != 0 {
		t.Fatalf("%d dedupe records after the prune (%v), want 0", n, err)
	}
}

// While a checkpoint commits in the background, the webhook dispatcher's
// outcomes go on through the log's layers like appends (a crash then
// keeps them), and an append that fails in the layers (its target's
// record is corrupt) is not acked: it waits for the checkpoint and fails
// as it would without the log, and the appends around it are kept.
func TestLogWebhookOutcomesAndAFailedAppendWhileACheckpointCommits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	opts := withOutbox(heldOpts)
	s, held, path := openHeld(t, opts)
	if err := bolt.PutRawMessageForTest(s, "x", 1, []byte{0xff, 1, 2}); err != nil {
		t.Fatal(err)
	}
	storetest.MustAppendN(t, s, "r", "u", 8)
	waitFor(t, held.entered, "checkpoint")
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.OutboxDone(bounded, 1); err != nil {
		t.Fatalf("outbox done while the checkpoint is held: %v", err)
	}
	if err := s.OutboxUpdate(bounded, tripsense.OutboxEntry{Seq: 2, Attempts: 3, LastError: "gone", Failed: true}); err != nil {
		t.Fatalf("outbox update while the checkpoint is held: %v", err)
	}
	if err := s.OutboxUpdate(bounded, tripsense.OutboxEntry{Seq: 3, Attempts: 1, LastError: "later", NextAt: time.UnixMilli(4e12)}); err != nil {
		t.Fatalf("outbox update while the checkpoint is held: %v", err)
	}
	if waits := s.Stats().CheckpointWaits; waits != 0 {
		t.Fatalf("the committer waited %d times for the checkpoint", waits)
	}
	image := crashCopy(t, path)

	edit := make(chan error, 1)
	go func() {
		_, _, err := s.Append(ctx, tripsense.NewMessage{Room: "x", UserID: "u", Body: "e", Kind: tripsense.KindEdit, Target: 1})
		edit <- err
	}()
	held.release <- struct{}{}
	select {
	case err := <-edit:
		if err == nil {
			t.Fatal("an edit of a corrupt record was acked")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the edit waiting for the checkpoint never finished")
	}
	want, err := s.OutboxList(ctx, 100)
	if err != nil || len(want) != 7 || want[0].Seq != 3 || want[0].LastError != "later" || !want[6].Failed || want[6].Seq != 2 {
		t.Fatalf("outbox: %+v (%v), want 3..8 pending (3 retried), then 2 failed", want, err)
	}
	c := MustOpen(t, image, opts)
	defer c.Close()
	if got, err := c.OutboxList(ctx, 100); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("outbox after the crash: %+v (%v)\nwant %+v", got, err, want)
	}
	storetest.MustAppendN(t, s, "r", "u", 2)
	if got := storetest.MustMessagesAfter(t, s, "r", 0, 100); len(got) != 10 || got[9].Index != 10 {
		t.Fatalf("room r: %d messages", len(got))
	}
}

// A damaged frame in the region of the overlay that was committing when
// the process died (a bad sector: no crash alone does this) ends that
// region's replay early. The region written after it must then not be
// replayed, or its messages would follow a gap: Open fails and names the
// log.
func TestLogRefusesToReplayPastADamagedFrame(t *testing.T) {
	t.Parallel()
	opts := heldOpts
	s, held, path := openHeld(t, opts)
	var ends []int64 // where each frame ends, in the first region
	var off int64
	s.ObserveCommits(func(c bolt.CommitStats) {
		if len(ends) < 8 {
			off += c.LogBytes
			ends = append(ends, off)
		}
	})
	storetest.MustAppendN(t, s, "r", "u", 8)
	waitFor(t, held.entered, "checkpoint")
	storetest.MustAppendN(t, s, "r", "u", 2)

	intact := crashCopy(t, path)
	c := MustOpen(t, intact, opts)
	if h := storetest.MustHead(t, c, "r"); h != 10 {
		t.Fatalf("intact crash image: head %d, want 10", h)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	damaged := crashCopy(t, path)
	f, err := os.OpenFile(damaged+".wal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	at := ends[4] - 1 // the last byte of the 5th frame
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if c, err := bolt.Open(damaged, opts); err == nil {
		head := storetest.MustHead(t, c, "r")
		c.Close()
		t.Fatalf("Open replayed past a damaged frame (head %d)", head)
	} else if !strings.Contains(err.Error(), "write-ahead log") || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("Open: %v, want an error that names the log and the gap", err)
	}
}

package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

// event appends an event and returns the stored entry or the store's error.
func event(s tripsense.MessageStore, kind, room, user string, target int64, body, reaction string, remove, moderator bool) (tripsense.Message, error) {
	m, _, err := s.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: user, Kind: kind, Target: target,
		Body: body, Reaction: reaction, Remove: remove, Moderator: moderator, CreateTime: baseTime})
	return m, err
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if tripsense.ErrorCode(err) != code {
		t.Fatalf("%s: err = %v, want %s", what, err, code)
	}
}

func mustEntry(t *testing.T, s tripsense.MessageStore, room string, index int64) tripsense.Message {
	t.Helper()
	got := MustMessagesAfter(t, s, room, index-1, 1)
	if len(got) != 1 || got[0].Index != index {
		t.Fatalf("entry %d of %s: got %+v", index, room, got)
	}
	return got[0]
}

// checkGapFree fails unless the room holds exactly the indexes 1..head.
func checkGapFree(t *testing.T, s tripsense.MessageStore, room string) []tripsense.Message {
	t.Helper()
	head := MustHead(t, s, room)
	var all []tripsense.Message
	for after := int64(0); after < head; {
		page := MustMessagesAfter(t, s, room, after, 500)
		if len(page) == 0 {
			t.Fatalf("no entries after %d, head %d", after, head)
		}
		all = append(all, page...)
		after = page[len(page)-1].Index
	}
	for i, m := range all {
		if m.Index != int64(i+1) {
			t.Fatalf("entry %d has index %d: a gap", i+1, m.Index)
		}
	}
	return all
}

func testLifecycleRules(t *testing.T, h *harness) {
	s, _ := h.open(t)
	const room = "life"
	m1 := MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: "first text", Type: "text", CreateTime: baseTime})
	wantCode(t, "edit by another user", errOf(event(s, tripsense.KindEdit, room, "bob", m1.Index, "bob's text", "", false, false)), tripsense.EFORBIDDEN)
	wantCode(t, "edit of a missing message", errOf(event(s, tripsense.KindEdit, room, "alice", 99, "x", "", false, false)), tripsense.EINVALID)
	if h := MustHead(t, s, room); h != 1 {
		t.Fatalf("refused events were stored: head %d", h)
	}
	e2, err := event(s, tripsense.KindEdit, room, "alice", m1.Index, "second text", "", false, false)
	if err != nil || e2.Index != 2 || e2.Kind != tripsense.KindEdit || e2.Target != 1 || e2.Body != "second text" {
		t.Fatalf("edit: %+v, %v", e2, err)
	}
	wantCode(t, "an event as a target", errOf(event(s, tripsense.KindEdit, room, "alice", e2.Index, "x", "", false, false)), tripsense.EINVALID)
	r3, err := event(s, tripsense.KindReaction, room, "bob", m1.Index, "", "👍", false, false)
	if err != nil || r3.Index != 3 || r3.Reaction != "👍" {
		t.Fatalf("reaction: %+v, %v", r3, err)
	}
	wantCode(t, "the same reaction twice", errOf(event(s, tripsense.KindReaction, room, "bob", m1.Index, "", "👍", false, false)), tripsense.EINVALID)
	wantCode(t, "removing a reaction never given", errOf(event(s, tripsense.KindReaction, room, "bob", m1.Index, "", "🎉", true, false)), tripsense.EINVALID)
	if _, err := event(s, tripsense.KindReaction, room, "carol", m1.Index, "", "👍", false, false); err != nil {
		t.Fatalf("carol reacts: %v", err)
	}
	reply, _, err := s.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: "bob", Body: "re", Type: "text", ReplyTo: m1.Index, CreateTime: baseTime})
	if err != nil || reply.ReplyTo != 1 || reply.Index != 5 {
		t.Fatalf("reply: %+v, %v", reply, err)
	}
	_, _, err = s.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: "bob", Body: "re", Type: "text", ReplyTo: e2.Index})
	wantCode(t, "a reply to an event", err, tripsense.EINVALID)
	_, _, err = s.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: "bob", Body: "re", Type: "text", ReplyTo: 50})
	wantCode(t, "a reply to a missing message", err, tripsense.EINVALID)

	got := mustEntry(t, s, room, 1)
	if got.Body != "second text" || got.EditedAt.IsZero() || got.Deleted || !slices.Equal(got.Edits, []int64{2}) {
		t.Fatalf("edited message: %+v", got)
	}
	if rc := got.ReactionCounts(); len(rc) != 1 || rc[0] != (tripsense.ReactionCount{Reaction: "👍", Count: 2}) {
		t.Fatalf("reactions: %+v", rc)
	}
	if got := mustEntry(t, s, room, 5); got.ReplyTo != 1 || !got.IsMessage() {
		t.Fatalf("reply as stored: %+v", got)
	}

	wantCode(t, "delete by another user", errOf(event(s, tripsense.KindDelete, room, "bob", m1.Index, "", "", false, false)), tripsense.EFORBIDDEN)
	d, err := event(s, tripsense.KindDelete, room, "mod", m1.Index, "", "", false, true)
	if err != nil || d.Kind != tripsense.KindDelete || d.Target != 1 {
		t.Fatalf("moderator delete: %+v, %v", d, err)
	}
	wantCode(t, "edit after delete", errOf(event(s, tripsense.KindEdit, room, "alice", m1.Index, "third", "", false, false)), tripsense.EINVALID)
	wantCode(t, "reaction after delete", errOf(event(s, tripsense.KindReaction, room, "bob", m1.Index, "", "🎉", false, false)), tripsense.EINVALID)
	wantCode(t, "delete twice", errOf(event(s, tripsense.KindDelete, room, "alice", m1.Index, "", "", false, false)), tripsense.EINVALID)

	all := checkGapFree(t, s, room)
	if len(all) != int(d.Index) {
		t.Fatalf("refused events were stored: %d entries, the delete is %d", len(all), d.Index)
	}
	got = all[0]
	if !got.Deleted || got.Body != "" || got.DeletedBy != "mod" || got.DeletedAt.IsZero() {
		t.Fatalf("deleted message: %+v", got)
	}
	if ed := all[1]; ed.Body != "" || !ed.Deleted {
		t.Fatalf("the edit of the deleted message keeps its body: %+v", ed)
	}
	for _, m := range all {
		if strings.Contains(m.Body, "first text") || strings.Contains(m.Body, "second text") {
			t.Fatalf("a deleted text is still stored at %d: %+v", m.Index, m)
		}
	}
}

func errOf(_ tripsense.Message, err error) error { return err }

func testLifecycleIdempotent(t *testing.T, h *harness) {
	s, _ := h.open(t)
	const room = "idem"
	m1 := MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: "one", Type: "text"})
	for _, kind := range []string{tripsense.KindEdit, tripsense.KindReaction, tripsense.KindDelete} {
		nm := tripsense.NewMessage{Room: room, UserID: "alice", Kind: kind, Target: m1.Index, Body: "two", Reaction: "ok", ClientMsgID: "c-" + kind}
		if kind != tripsense.KindEdit {
			nm.Body = ""
		}
		first, dup, err := s.Append(context.Background(), nm)
		if err != nil || dup {
			t.Fatalf("%s: %+v dup=%v err=%v", kind, first, dup, err)
		}
		again, dup, err := s.Append(context.Background(), nm)
		if err != nil || !dup || again.Index != first.Index {
			t.Fatalf("%s retried: %+v dup=%v err=%v, want the original %d", kind, again, dup, err, first.Index)
		}
	}
	if h := MustHead(t, s, room); h != 4 {
		t.Fatalf("head %d after three events and their retries, want 4", h)
	}
}

// writers returns the stores concurrent writers use: s, and with
// RunOptions.Processes more stores over the same data.
func (h *harness) writers(t *testing.T, s tripsense.Store, opener Opener) []tripsense.MessageStore {
	out := []tripsense.MessageStore{s}
	for i := 1; i < h.opts.Processes; i++ {
		o := opener(t)
		t.Cleanup(func() { o.Close() })
		out = append(out, o)
	}
	return out
}

func testConcurrentEditsAndDeletes(t *testing.T, h *harness) {
	s, opener := h.open(t)
	ws := h.writers(t, s, opener)
	const room = "race-edit"
	const editors = 8
	m1 := MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: "original", Type: "text"})
	var wg sync.WaitGroup
	type result struct {
		m   tripsense.Message
		err error
	}
	edits := make([]result, editors)
	deletes := make([]result, 2)
	for i := range edits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := event(ws[i%len(ws)], tripsense.KindEdit, room, "alice", m1.Index, fmt.Sprintf("edit %d", i), "", false, false)
			edits[i] = result{m, err}
		}()
	}
	for i := range deletes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := event(ws[(i+1)%len(ws)], tripsense.KindDelete, room, "alice", m1.Index, "", "", false, false)
			deletes[i] = result{m, err}
		}()
	}
	wg.Wait()
	var del int64
	for _, d := range deletes {
		switch {
		case d.err == nil && del == 0:
			del = d.m.Index
		case d.err == nil:
			t.Fatalf("two deletes of one message both succeeded: %d and %d", del, d.m.Index)
		default:
			wantCode(t, "the second delete", d.err, tripsense.EINVALID)
		}
	}
	if del == 0 {
		t.Fatalf("no delete succeeded: %+v", deletes)
	}
	for _, e := range edits {
		if e.err == nil && e.m.Index > del {
			t.Fatalf("edit %d succeeded after the delete %d", e.m.Index, del)
		}
		if e.err != nil && tripsense.ErrorCode(e.err) != tripsense.EINVALID && tripsense.ErrorCode(e.err) != tripsense.ECONFLICT {
			t.Fatalf("edit failed with %v", e.err)
		}
	}
	all := checkGapFree(t, s, room)
	if !all[0].Deleted || all[0].Body != "" {
		t.Fatalf("the message is not deleted: %+v", all[0])
	}
	for _, m := range all {
		if m.Body != "" {
			t.Fatalf("entry %d still holds text after the delete: %+v", m.Index, m)
		}
	}
}

func testDeleteRacingReactions(t *testing.T, h *harness) {
	s, opener := h.open(t)
	ws := h.writers(t, s, opener)
	const room = "race-react"
	const reactors = 10
	m1 := MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: "hello", Type: "text"})
	var wg sync.WaitGroup
	oks := make([]tripsense.Message, reactors)
	errs := make([]error, reactors)
	var del tripsense.Message
	var delErr error
	for i := range reactors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oks[i], errs[i] = event(ws[i%len(ws)], tripsense.KindReaction, room, fmt.Sprintf("u%d", i), m1.Index, "", "👍", false, false)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		del, delErr = event(ws[len(ws)-1], tripsense.KindDelete, room, "alice", m1.Index, "", "", false, false)
	}()
	wg.Wait()
	if delErr != nil {
		t.Fatalf("delete: %v", delErr)
	}
	before := 0
	for i := range reactors {
		switch {
		case errs[i] == nil && oks[i].Index > del.Index:
			t.Fatalf("reaction %d succeeded after the delete %d", oks[i].Index, del.Index)
		case errs[i] == nil:
			before++
		case tripsense.ErrorCode(errs[i]) != tripsense.EINVALID && tripsense.ErrorCode(errs[i]) != tripsense.ECONFLICT:
			t.Fatalf("reaction failed with %v", errs[i])
		}
	}
	all := checkGapFree(t, s, room)
	if got := len(all[0].Reactions); got != before {
		t.Fatalf("the deleted message holds %d reactions, %d succeeded before its delete", got, before)
	}
}

func testRetentionEdges(t *testing.T, h *harness) {
	if h.opts.NoRetention {
		t.Skip("this store keeps every entry")
	}
	if h.opts.OpenExpiring != nil {
		testRetentionExpiring(t, h)
		return
	}
	s, _ := h.open(t)
	ctx := context.Background()
	const room = "retain"
	t0 := baseTime.Truncate(time.Millisecond)
	for i := range 5 {
		MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: fmt.Sprintf("m%d", i+1), Type: "text",
			ClientMsgID: fmt.Sprintf("c%d", i+1), CreateTime: t0.Add(time.Duration(i) * time.Minute)})
	}
	MustAppendNew(t, s, tripsense.NewMessage{Room: "other", UserID: "bob", Body: "keep", Type: "text", CreateTime: t0.Add(time.Hour)})
	if o, err := s.Oldest(ctx, room); err != nil || o != 1 {
		t.Fatalf("Oldest before pruning = %d, %v; want 1", o, err)
	}
	// The cutoff is exclusive: the entry created at it stays.
	n, err := s.Prune(ctx, t0.Add(2*time.Minute), 1)
	if err != nil || n != 1 {
		t.Fatalf("Prune limit 1 = %d, %v", n, err)
	}
	if n, err = s.Prune(ctx, t0.Add(2*time.Minute), 100); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want the second old entry", n, err)
	}
	if o, err := s.Oldest(ctx, room); err != nil || o != 3 {
		t.Fatalf("Oldest = %d, %v; want 3", o, err)
	}
	if got := MustMessagesAfter(t, s, room, 0, 10); len(got) != 3 || got[0].Index != 3 {
		t.Fatalf("MessagesAfter(0) after pruning: %+v", got)
	}
	if got := MustMessagesBefore(t, s, room, 5, 10); len(got) != 2 || got[0].Index != 3 {
		t.Fatalf("MessagesBefore(5) after pruning: %+v", got)
	}
	if h := MustHead(t, s, room); h != 5 {
		t.Fatalf("head moved back: %d", h)
	}
	// A retry of a pruned message is still a duplicate of its index.
	again, dup, err := s.Append(ctx, tripsense.NewMessage{Room: room, UserID: "alice", Body: "m1", Type: "text", ClientMsgID: "c1"})
	if err != nil || !dup || again.Index != 1 {
		t.Fatalf("retry of a pruned message: %+v dup=%v err=%v", again, dup, err)
	}
	// An event on a pruned message is refused.
	wantCode(t, "edit of a pruned message", errOf(event(s, tripsense.KindEdit, room, "alice", 1, "x", "", false, false)), tripsense.EINVALID)
	// Everything old goes; the head stays and the next index follows it.
	if _, err := s.Prune(ctx, t0.Add(time.Minute*30), 100); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Oldest(ctx, room); err != nil || o != 6 {
		t.Fatalf("Oldest after pruning everything = %d, %v; want head+1 = 6", o, err)
	}
	if got := MustMessagesAfter(t, s, room, 0, 10); len(got) != 0 {
		t.Fatalf("entries left: %+v", got)
	}
	if m := MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: "new", Type: "text"}); m.Index != 6 {
		t.Fatalf("next index after pruning everything = %d, want 6", m.Index)
	}
	if got := MustMessagesAfter(t, s, "other", 0, 10); len(got) != 1 {
		t.Fatalf("a newer room lost entries: %+v", got)
	}
}

// testRetentionExpiring is testRetentionEdges for a store whose entries
// expire by the clock (RunOptions.OpenExpiring): every check runs twice,
// once while the expired entries are still stored (reads must ignore them)
// and once after the sweep deleted them (as TTL does later).
func testRetentionExpiring(t *testing.T, h *harness) {
	ctx := context.Background()
	const room, retention = "retain", time.Hour
	t0 := baseTime.Truncate(time.Millisecond)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	s, sweep := h.opts.OpenExpiring(t, retention, clock)
	t.Cleanup(func() { _ = s.Close() })
	for i := range 5 {
		MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: fmt.Sprintf("m%d", i+1), Type: "text",
			ClientMsgID: fmt.Sprintf("c%d", i+1), CreateTime: t0.Add(time.Duration(i) * time.Minute)})
	}
	MustAppendNew(t, s, tripsense.NewMessage{Room: "other", UserID: "bob", Body: "keep", Type: "text", CreateTime: t0.Add(time.Hour)})
	if o, err := s.Oldest(ctx, room); err != nil || o != 1 {
		t.Fatalf("Oldest before expiry = %d, %v; want 1", o, err)
	}
	// The cutoff (now - retention) is exclusive: the entry created at it stays.
	setNow(t0.Add(2*time.Minute + retention))
	for _, swept := range []bool{false, true} {
		if swept {
			sweep()
		}
		if o, err := s.Oldest(ctx, room); err != nil || o != 3 {
			t.Fatalf("swept=%v: Oldest = %d, %v; want 3", swept, o, err)
		}
		if got := MustMessagesAfter(t, s, room, 0, 10); len(got) != 3 || got[0].Index != 3 {
			t.Fatalf("swept=%v: MessagesAfter(0) after expiry: %+v", swept, got)
		}
		if got := MustMessagesBefore(t, s, room, 5, 10); len(got) != 2 || got[0].Index != 3 {
			t.Fatalf("swept=%v: MessagesBefore(5) after expiry: %+v", swept, got)
		}
		if h := MustHead(t, s, room); h != 5 {
			t.Fatalf("swept=%v: head moved back: %d", swept, h)
		}
		// A retry of an expired message is still a duplicate of its index.
		again, dup, err := s.Append(ctx, tripsense.NewMessage{Room: room, UserID: "alice", Body: "m1", Type: "text", ClientMsgID: "c1"})
		if err != nil || !dup || again.Index != 1 {
			t.Fatalf("swept=%v: retry of an expired message: %+v dup=%v err=%v", swept, again, dup, err)
		}
		// An event on an expired message is refused.
		wantCode(t, "edit of an expired message", errOf(event(s, tripsense.KindEdit, room, "alice", 1, "x", "", false, false)), tripsense.EINVALID)
	}
	// Everything old expires and is deleted: the head stays, the next index
	// follows it (the newest entry is never deleted, so an index is never
	// handed out twice), and that entry's predecessor goes next.
	setNow(t0.Add(30*time.Minute + retention))
	for _, swept := range []bool{false, true} {
		if swept {
			sweep()
		}
		if o, err := s.Oldest(ctx, room); err != nil || o != 6 {
			t.Fatalf("swept=%v: Oldest after everything expired = %d, %v; want head+1 = 6", swept, o, err)
		}
		if got := MustMessagesAfter(t, s, room, 0, 10); len(got) != 0 {
			t.Fatalf("swept=%v: entries left: %+v", swept, got)
		}
		if h := MustHead(t, s, room); h != 5 {
			t.Fatalf("swept=%v: head after everything expired = %d, want 5", swept, h)
		}
	}
	if m := MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: "new", Type: "text"}); m.Index != 6 {
		t.Fatalf("next index after everything expired = %d, want 6", m.Index)
	}
	sweep()
	if m := MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "alice", Body: "newer", Type: "text"}); m.Index != 7 {
		t.Fatalf("next index after the sweep = %d, want 7", m.Index)
	}
	if o, err := s.Oldest(ctx, room); err != nil || o != 6 {
		t.Fatalf("Oldest with two new entries = %d, %v; want 6", o, err)
	}
	if got := MustMessagesAfter(t, s, room, 0, 10); len(got) != 2 || got[0].Index != 6 || got[1].Body != "newer" {
		t.Fatalf("new entries: %+v", got)
	}
	if got := MustMessagesAfter(t, s, "other", 0, 10); len(got) != 1 {
		t.Fatalf("a newer room lost entries: %+v", got)
	}
}

func testEraseUser(t *testing.T, h *harness) {
	s, _ := h.open(t)
	ctx := context.Background()
	for _, r := range []string{"er1", "er2"} {
		MustAddMember(t, s, r, "alice")
		MustAddMember(t, s, r, "bob")
	}
	a1 := MustAppendNew(t, s, tripsense.NewMessage{Room: "er1", UserID: "alice", Body: "alice secret one", Type: "text"})
	MustAppendNew(t, s, tripsense.NewMessage{Room: "er1", UserID: "bob", Body: "bob stays", Type: "text"})
	if _, err := event(s, tripsense.KindEdit, "er1", "alice", a1.Index, "alice secret edit", "", false, false); err != nil {
		t.Fatal(err)
	}
	MustAppendNew(t, s, tripsense.NewMessage{Room: "er2", UserID: "alice", Body: "alice secret two", Type: "text"})
	// A room alice already left still holds her text.
	MustAppendNew(t, s, tripsense.NewMessage{Room: "er3", UserID: "alice", Body: "alice secret three", Type: "text"})
	MustAdvanceCursor(t, s, "alice", tripsense.DefaultDevice, "er1", 2)
	MustAdvanceCursor(t, s, "alice", "tablet", "er2", 1) // a named device's cursor is erased too
	MustAdvanceReadCursor(t, s, "alice", "er1", 1)
	MustAdvanceCursor(t, s, "bob", tripsense.DefaultDevice, "er1", 1)
	// Asked before the erasure, so that a store that remembers answers
	// (store/bolt's membership cache) has them to forget.
	for _, r := range []string{"er1", "er2"} {
		if !MustIsMember(t, s, "alice", r) {
			t.Fatalf("alice is not a member of %s before the erasure", r)
		}
	}

	e, err := s.EraseUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := tripsense.Erasure{Messages: 4, Memberships: 2, Cursors: 2, ReadCursors: 1}
	if e != want {
		t.Fatalf("EraseUser = %+v, want %+v", e, want)
	}
	for _, r := range []string{"er1", "er2", "er3"} {
		for _, m := range checkGapFree(t, s, r) {
			if strings.Contains(m.Body, "alice") {
				t.Fatalf("alice's text is still stored in %s: %+v", r, m)
			}
			if m.UserID == "alice" && !m.Deleted {
				t.Fatalf("alice's entry not marked deleted: %+v", m)
			}
		}
	}
	if got := mustEntry(t, s, "er1", 2); got.Body != "bob stays" {
		t.Fatalf("bob's message changed: %+v", got)
	}
	if rooms := MustRooms(t, s, "alice"); len(rooms) != 0 {
		t.Fatalf("alice is still in %v", rooms)
	}
	for _, r := range []string{"er1", "er2"} {
		if MustIsMember(t, s, "alice", r) {
			t.Fatalf("IsMember(alice, %s) = true after the erasure", r)
		}
		if !MustIsMember(t, s, "bob", r) {
			t.Fatalf("IsMember(bob, %s) = false after alice's erasure", r)
		}
	}
	if members := MustMembers(t, s, "er1"); !slices.Equal(members, []string{"bob"}) {
		t.Fatalf("members of er1: %v", members)
	}
	for _, device := range []string{tripsense.DefaultDevice, "tablet"} {
		if cs := MustCursors(t, s, "alice", device); len(cs) != 0 {
			t.Fatalf("alice's cursors of device %q: %+v", device, cs)
		}
	}
	if rs := MustReadCursors(t, s, "alice"); len(rs) != 0 {
		t.Fatalf("alice's read cursors: %+v", rs)
	}
	if rs := MustReceipts(t, s, "er1"); len(rs) != 0 {
		t.Fatalf("receipts of er1: %+v", rs)
	}
	if c := MustCursor(t, s, "bob", tripsense.DefaultDevice, "er1"); c.LastSeen != 1 {
		t.Fatalf("bob's cursor: %+v", c)
	}
	if e, err := s.EraseUser(ctx, "alice"); err != nil || e != (tripsense.Erasure{}) {
		t.Fatalf("second EraseUser = %+v, %v; want zeros", e, err)
	}
}

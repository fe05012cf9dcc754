package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

// Roomed is a store that keeps room metadata.
type Roomed interface {
	tripsense.Store
	tripsense.RoomStore
}

// RunRooms checks room metadata: create (ECONFLICT over metadata or
// members), read, rename, a change of owner (the creator stays the
// creator); a room without metadata is ENOTFOUND. It uses rooms "trip" and
// "seeded", and leaves "trip" owned by bob.
func RunRooms(t *testing.T, s Roomed) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CreateRoom(ctx, tripsense.RoomInfo{ID: "trip", Name: "Rome", CreatedBy: "alice", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRoom(ctx, tripsense.RoomInfo{ID: "trip", Name: "again"}); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("create existing: %v", err)
	}
	MustAddMember(t, s, "seeded", "u")
	if err := s.CreateRoom(ctx, tripsense.RoomInfo{ID: "seeded", Name: "x"}); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("create over members: %v", err)
	}
	if err := s.RenameRoom(ctx, "trip", "Rome 2027"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameRoom(ctx, "seeded", "x"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("rename without metadata: %v", err)
	}
	if r, err := s.Room(ctx, "trip"); err != nil || r.Name != "Rome 2027" || r.CreatedBy != "alice" || r.Owner != "alice" || !r.CreatedAt.Equal(now) {
		t.Fatalf("room = %+v %v", r, err)
	}
	if _, err := s.Room(ctx, "seeded"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("room without metadata: %v", err)
	}
	// A compare-and-set: from a stale owner, nothing changes.
	if err := s.SetOwner(ctx, "trip", "carol", "bob"); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("owner change from a stale owner: %v, want conflict", err)
	}
	if err := s.SetOwner(ctx, "trip", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOwner(ctx, "trip", "alice", "carol"); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("a second change decided from the same owner: %v, want conflict", err)
	}
	if err := s.RenameRoom(ctx, "trip", "Rome 2028"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Room(ctx, "trip"); err != nil || r.Owner != "bob" || r.CreatedBy != "alice" || r.Name != "Rome 2028" || !r.CreatedAt.Equal(now) {
		t.Fatalf("room after a change of owner and a rename = %+v %v", r, err)
	}
	if err := s.SetOwner(ctx, "seeded", "", "u"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("owner without metadata: %v", err)
	}

}

// Outboxed is a store with its outbox enabled.
type Outboxed interface {
	tripsense.Store
	tripsense.RoomStore
	tripsense.OutboxStore
}

// RunRoomsAndOutbox checks room metadata and the outbox of a store opened
// with its outbox enabled: every append (messages, events, room entries)
// records one pending entry in the append itself, a refused or duplicate
// append records none, and the delivery state is kept; reopen (nil when
// the store cannot be reopened) shows the outbox survives.
func RunRoomsAndOutbox(t *testing.T, s Outboxed, reopen func() Outboxed) {
	RunRooms(t, s)
	ctx := context.Background()
	MustAppendNew(t, s, tripsense.NewMessage{Room: "trip", UserID: "alice", Kind: tripsense.KindMember, Type: tripsense.MemberJoined, Body: "alice"})
	MustAppendNew(t, s, tripsense.NewMessage{Room: "trip", UserID: "alice", Body: "hi", Type: "t", ClientMsgID: "c1"})
	if _, dup, err := s.Append(ctx, tripsense.NewMessage{Room: "trip", UserID: "alice", Body: "hi", Type: "t", ClientMsgID: "c1"}); err != nil || !dup {
		t.Fatalf("retry: %v %v", dup, err)
	}
	if _, _, err := s.Append(ctx, tripsense.NewMessage{Room: "trip", UserID: "bob", Kind: tripsense.KindEdit, Target: 2, Body: "x"}); err == nil {
		t.Fatal("a refused edit was stored")
	}
	MustAppendNew(t, s, tripsense.NewMessage{Room: "trip", UserID: "alice", Kind: tripsense.KindRename, Body: "Rome 2027"})
	got, err := s.OutboxList(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Index != 1 || got[1].Index != 2 || got[2].Index != 3 || got[0].Seq >= got[1].Seq {
		t.Fatalf("outbox = %+v, want indexes 1, 2, 3 of trip", got)
	}
	later := time.Now().Add(time.Hour)
	due, err := s.OutboxDue(ctx, later, 100)
	if err != nil || len(due) != 3 {
		t.Fatalf("due = %+v %v", due, err)
	}
	e := got[0]
	e.Attempts, e.NextAt, e.LastError = 3, later.Add(time.Hour), "connection refused"
	if err := s.OutboxUpdate(ctx, e); err != nil {
		t.Fatal(err)
	}
	f := got[1]
	f.Attempts, f.Failed, f.LastError = 9, true, "500"
	if err := s.OutboxUpdate(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxDone(ctx, got[2].Seq); err != nil {
		t.Fatal(err)
	}
	if reopen != nil {
		s = reopen()
	}
	if r, err := s.Room(ctx, "trip"); err != nil || r.Owner != "bob" || r.CreatedBy != "alice" {
		t.Fatalf("room after reopening = %+v %v, want owner bob, created by alice", r, err)
	}
	if due, _ := s.OutboxDue(ctx, later, 100); len(due) != 0 {
		t.Fatalf("due after backoff, failure and done = %+v", due)
	}
	list, _ := s.OutboxList(ctx, 100)
	if len(list) != 2 || list[0].Attempts != 3 || list[0].LastError != "connection refused" || !list[1].Failed || list[1].Attempts != 9 {
		t.Fatalf("state = %+v", list)
	}
	if n, err := s.OutboxReplay(ctx, 0, later); err != nil || n != 1 {
		t.Fatalf("replay = %d %v", n, err)
	}
	if due, _ := s.OutboxDue(ctx, later, 100); len(due) != 1 || due[0].Index != 2 || due[0].Attempts != 0 || due[0].Failed {
		t.Fatalf("due after replay = %+v", due)
	}
}

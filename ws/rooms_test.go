package ws_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

var (
	alice = tripsense.Principal{UserID: "alice"}
	bob   = tripsense.Principal{UserID: "bob"}
	carol = tripsense.Principal{UserID: "carol"}
	root  = tripsense.Principal{UserID: "admin", Admin: true}
)

func kinds(t *testing.T, f *fixture, room string) []string {
	t.Helper()
	msgs, err := f.store.MessagesAfter(context.Background(), room, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		switch m.Kind {
		case tripsense.KindMember:
			out = append(out, fmt.Sprintf("%d %s %s by %s", m.Index, m.UserID, m.Type, m.Body))
		case tripsense.KindRename:
			out = append(out, fmt.Sprintf("%d rename %q by %s", m.Index, m.Body, m.UserID))
		default:
			out = append(out, fmt.Sprintf("%d %s %s: %s", m.Index, m.EntryKind(), m.UserID, m.Body))
		}
	}
	return out
}

// TestRoomLifecycle: alice creates a room with bob and carol (each joins
// with an entry of the log), lists them with roles; bob, a member, cannot
// rename, add or remove others, but may leave; alice renames and removes;
// an admin adds. Every change is an entry of the log, so catch-up brings it.
func TestRoomLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	f.connect(t, "b1", "bob")
	info, err := f.svc.CreateRoom(ctx, alice, "trip", "Trip to Rome", []string{"bob", "carol", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "trip" || info.Name != "Trip to Rome" || info.CreatedBy != "alice" || info.CreatedAt.IsZero() {
		t.Fatalf("info = %+v", info)
	}
	if _, err := f.svc.CreateRoom(ctx, bob, "trip", "again", nil); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("create existing: %v, want conflict", err)
	}
	if _, err := f.svc.CreateRoom(ctx, bob, "uuidroom1", "seed room", nil); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("create over a seed room: %v, want conflict", err)
	}
	members, err := f.svc.RoomMembers(ctx, carol, "trip")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(members); got != "[{alice owner} {bob member} {carol member}]" {
		t.Fatalf("members = %s", got)
	}
	// bob, online, heard his own join and carol's live (alice joined before him).
	if got := f.rec.take("b1"); len(got) != 2 || got[0]["userId"] != "bob" || got[1]["userId"] != "carol" {
		t.Fatalf("bob got %v", got)
	}
	if _, err := f.svc.UpdateRoom(ctx, bob, "trip", ptr("mine"), nil); tripsense.ErrorCode(err) != tripsense.EFORBIDDEN {
		t.Fatalf("member renames: %v", err)
	}
	if err := f.svc.AddMemberAs(ctx, bob, "trip", "dave"); tripsense.ErrorCode(err) != tripsense.EFORBIDDEN {
		t.Fatalf("member adds: %v", err)
	}
	if err := f.svc.RemoveMemberAs(ctx, bob, "trip", "carol"); tripsense.ErrorCode(err) != tripsense.EFORBIDDEN {
		t.Fatalf("member removes another: %v", err)
	}
	if _, err := f.svc.Room(ctx, tripsense.Principal{UserID: "dave"}, "trip"); tripsense.ErrorCode(err) != tripsense.ENOTMEMBER {
		t.Fatalf("non-member reads: %v", err)
	}
	if info, err = f.svc.UpdateRoom(ctx, alice, "trip", ptr("Rome 2027"), nil); err != nil || info.Name != "Rome 2027" {
		t.Fatalf("rename: %+v %v", info, err)
	}
	if got := onlyFrame(t, f.rec.take("b1"), "rename"); got["name"] != "Rome 2027" || got["userId"] != "alice" || got["index"] != float64(4) {
		t.Fatalf("rename frame %v", got)
	}
	if err := f.svc.RemoveMemberAs(ctx, bob, "trip", "bob"); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if got := onlyFrame(t, f.rec.take("b1"), "member"); got["event"] != "left" || got["by"] != "bob" {
		t.Fatalf("leave frame %v", got)
	}
	if err := f.svc.RemoveMemberAs(ctx, alice, "trip", "carol"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AddMemberAs(ctx, root, "trip", "dave"); err != nil {
		t.Fatal(err)
	}
	if got := f.rec.take("b1"); len(got) != 0 {
		t.Fatalf("bob left but got %v", got)
	}
	if err := f.svc.AddMemberAs(ctx, alice, "trip", "dave"); err != nil { // again: nothing
		t.Fatal(err)
	}
	want := []string{"1 alice joined by alice", "2 bob joined by alice", "3 carol joined by alice",
		`4 rename "Rome 2027" by alice`, "5 bob left by bob", "6 carol left by alice", "7 dave joined by admin"}
	if got := kinds(t, f, "trip"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log = %q\nwant  %q", got, want)
	}
	v, err := f.svc.Room(ctx, alice, "trip")
	if err != nil || v.Head != 7 || v.Members != 2 || v.Info.Name != "Rome 2027" {
		t.Fatalf("room = %+v %v", v, err)
	}
	// A seed room (no metadata) has no owner: only admins manage it.
	if err := f.svc.AddMemberAs(ctx, tripsense.Principal{UserID: "uuid1"}, "uuidroom1", "x"); tripsense.ErrorCode(err) != tripsense.EFORBIDDEN {
		t.Fatalf("member of a seed room adds: %v", err)
	}
	if v, err := f.svc.Room(ctx, root, "uuidroom1"); err != nil || v.Info.CreatedBy != "" || v.Members != 1 {
		t.Fatalf("seed room = %+v %v", v, err)
	}
	if _, err := f.svc.Room(ctx, root, "nothing"); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("no room: %v", err)
	}
}

func TestRoomInputAndLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	for _, tc := range []struct {
		id, name string
		members  []string
		code     string
	}{
		{"", "", nil, tripsense.EINVALID},
		{"bad id", "n", nil, tripsense.EINVALID},
		{"", "a\nb", nil, tripsense.EINVALID},
		{"", string(make([]byte, tripsense.MaxRoomNameBytes+1)), nil, tripsense.EINVALID},
		{"", "n", []string{"ok", "not ok"}, tripsense.EINVALID},
		{"", "n", make([]string, tripsense.MaxInitialMembers+1), tripsense.ETOOLARGE},
	} {
		if _, err := f.svc.CreateRoom(ctx, alice, tc.id, tc.name, tc.members); tripsense.ErrorCode(err) != tc.code {
			t.Errorf("create %q %q: %v, want %s", tc.id, tc.name, err, tc.code)
		}
	}
	info, err := f.svc.CreateRoom(ctx, alice, "", "generated", nil)
	if err != nil || !tripsense.ValidID(info.ID) || len(info.ID) < 10 {
		t.Fatalf("generated id %+v %v", info, err)
	}
	for i := 1; i < tripsense.MaxMembersPerRoom; i++ {
		if err := f.store.AddMember(ctx, info.ID, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.AddMemberAs(ctx, alice, info.ID, "onetoomany"); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("member over the limit: %v", err)
	}
	for i := 0; i < tripsense.MaxRoomsPerUser; i++ {
		if err := f.store.AddMember(ctx, fmt.Sprint("r", i), "busy"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.CreateRoom(ctx, alice, "", "n", []string{"busy"}); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("a user in too many rooms: %v", err)
	}
	if _, err := f.svc.CreateRoom(ctx, tripsense.Principal{UserID: "busy"}, "", "n", nil); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("creator in too many rooms: %v", err)
	}
}

// TestPostMessage: the HTTP send goes through the WebSocket send's path:
// validation, membership, idempotency (a retry answers the original,
// duplicate, and pushes nothing), live fan-out; admins post anywhere.
func TestPostMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	f.connect(t, "c2", "uuid2")
	p1 := tripsense.Principal{UserID: "uuid1"}
	nm := tripsense.NewMessage{Room: "uuidroom2", Body: "hi", Type: "text", ClientMsgID: "k1", UserID: "someone-else"}
	m, dup, err := f.svc.PostMessage(ctx, p1, nm)
	if err != nil || dup || m.Index != 1 || m.UserID != "uuid1" {
		t.Fatalf("post: %+v %v %v", m, dup, err)
	}
	if got := onlyFrame(t, f.rec.take("c2"), "message"); got["chatMessage"] != "hi" || got["userId"] != "uuid1" {
		t.Fatalf("live %v", got)
	}
	m2, dup, err := f.svc.PostMessage(ctx, p1, nm)
	if err != nil || !dup || m2.Index != 1 {
		t.Fatalf("retry: %+v %v %v", m2, dup, err)
	}
	if got := f.rec.take("c2"); len(got) != 0 {
		t.Fatalf("retry pushed %v", got)
	}
	if _, _, err := f.svc.PostMessage(ctx, p1, tripsense.NewMessage{Room: "uuidroom3", Body: "x", Type: "t"}); tripsense.ErrorCode(err) != tripsense.ENOTMEMBER {
		t.Fatalf("non-member: %v", err)
	}
	if _, _, err := f.svc.PostMessage(ctx, p1, tripsense.NewMessage{Room: "uuidroom2", Type: "t"}); tripsense.ErrorCode(err) != tripsense.EINVALID {
		t.Fatalf("empty body: %v", err)
	}
	if _, _, err := f.svc.PostMessage(ctx, p1, tripsense.NewMessage{Room: "uuidroom2", Body: "r", Type: "t", ReplyTo: 9}); tripsense.ErrorCode(err) != tripsense.EINVALID {
		t.Fatalf("reply to nothing: %v", err)
	}
	m3, _, err := f.svc.PostMessage(ctx, root, tripsense.NewMessage{Room: "uuidroom3", Body: "system notice", Type: "system"})
	if err != nil || m3.UserID != "admin" || m3.Index != 1 {
		t.Fatalf("admin post: %+v %v", m3, err)
	}
	if got := onlyFrame(t, f.rec.take("c2"), "message"); got["chatMessage"] != "system notice" {
		t.Fatalf("live admin post %v", got)
	}
}

// TestOwnerModerates: the room's owner deletes another member's message
// over the WebSocket (canModerate); another member may not.
func TestOwnerModerates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	if _, err := f.svc.CreateRoom(ctx, alice, "trip", "Rome", []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	a, c := f.connect(t, "a1", "alice"), f.connect(t, "c1", "carol")
	m, _, err := f.svc.PostMessage(ctx, bob, tripsense.NewMessage{Room: "trip", Body: "spam", Type: "text"})
	if err != nil {
		t.Fatal(err)
	}
	f.rec.take("a1")
	f.rec.take("c1")
	f.send(t, c, fmt.Sprintf(`{"action":"deleteMessage","chatroomId":"trip","index":%d}`, m.Index))
	if e := onlyFrame(t, f.rec.take("c1"), "error"); e["code"] != tripsense.EFORBIDDEN {
		t.Fatalf("member deletes: %v", e)
	}
	f.send(t, a, fmt.Sprintf(`{"action":"deleteMessage","chatroomId":"trip","index":%d}`, m.Index))
	if got := f.rec.take("a1"); len(got) != 1 || got[0]["type"] != "ack" {
		t.Fatalf("owner deletes: %v", got)
	}
}

// checkerStore holds every Members read of one room until a second one is
// under way or 200 ms passed, and records how many ran at once: without
// the membership lock, concurrent adds all read the count before any of
// them writes.
type checkerStore struct {
	tripsense.Store
	room string

	mu          sync.Mutex
	inside, max int
	arrived     chan struct{}
}

func (s *checkerStore) Members(ctx context.Context, room string) ([]string, error) {
	if room != s.room {
		return s.Store.Members(ctx, room)
	}
	s.mu.Lock()
	s.inside++
	s.max = max(s.max, s.inside)
	if s.inside >= 2 {
		close(s.arrived)
		s.arrived = make(chan struct{})
	}
	ch := s.arrived
	s.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(200 * time.Millisecond): // none came: the adds are serialised
	}
	s.mu.Lock()
	s.inside--
	s.mu.Unlock()
	return s.Store.Members(ctx, room)
}

// TestConcurrentAddsKeepTheMemberLimit: adds racing for the last place of
// a room: exactly one gets it, the others are refused with conflict, and
// the room ends at the limit with one joined entry.
func TestConcurrentAddsKeepTheMemberLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	for i := 1; i < tripsense.MaxMembersPerRoom; i++ {
		if err := f.store.AddMember(ctx, "big", fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	cs := &checkerStore{Store: f.store, room: "big", arrived: make(chan struct{})}
	f.svc.Store = cs
	const racers = 8
	errs := make(chan error, racers)
	for i := range racers {
		go func() { errs <- f.svc.AddMember(ctx, "big", fmt.Sprint("late", i)) }()
	}
	added := 0
	for range racers {
		switch err := <-errs; tripsense.ErrorCode(err) {
		case "":
			added++
		case tripsense.ECONFLICT:
		default:
			t.Fatalf("add: %v", err)
		}
	}
	members, err := f.store.Members(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if added != 1 || len(members) != tripsense.MaxMembersPerRoom || cs.max != 1 {
		t.Fatalf("%d adds succeeded, %d members (limit %d), %d limit checks at once; want 1, the limit, 1",
			added, len(members), tripsense.MaxMembersPerRoom, cs.max)
	}
	if got := kinds(t, f, "big"); len(got) != 1 {
		t.Fatalf("log entries %v, want one joined", got)
	}
}

// TestRoomUpdateIsAllOrNothing: a rename with a refused change of owner
// changes nothing; an owner who left has no say until an admin adds them
// back; two changes of owner decided by the same owner at once: one lands.
func TestRoomUpdateIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	if _, err := f.svc.CreateRoom(ctx, alice, "trip", "Rome", []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	name, dave := "Paris", "dave"
	if _, err := f.svc.UpdateRoom(ctx, alice, "trip", &name, &dave); tripsense.ErrorCode(err) != tripsense.ECONFLICT {
		t.Fatalf("rename and hand to a non-member: %v, want conflict", err)
	}
	bad := "not an id"
	if _, err := f.svc.UpdateRoom(ctx, alice, "trip", &name, &bad); tripsense.ErrorCode(err) != tripsense.EINVALID {
		t.Fatalf("rename and hand to a bad id: %v, want bad_request", err)
	}
	if info, _ := f.store.Room(ctx, "trip"); info.Name != "Rome" || info.Owner != "alice" {
		t.Fatalf("after refused updates: %+v, want Rome owned by alice", info)
	}
	if got := kinds(t, f, "trip"); len(got) != 3 {
		t.Fatalf("entries after refused updates: %v, want the three joins only", got)
	}

	// Two hand-overs by alice at once (to bob and to carol): one lands, the
	// other finds alice no longer the owner.
	errs := make(chan error, 2)
	for _, to := range []string{"bob", "carol"} {
		go func() { _, err := f.svc.UpdateRoom(ctx, alice, "trip", nil, &to); errs <- err }()
	}
	landed := 0
	for range 2 {
		switch err := <-errs; tripsense.ErrorCode(err) {
		case "":
			landed++
		case tripsense.EFORBIDDEN, tripsense.ECONFLICT:
		default:
			t.Fatalf("hand-over: %v", err)
		}
	}
	info, _ := f.store.Room(ctx, "trip")
	if owners := strings.Count(strings.Join(kinds(t, f, "trip"), "\n"), " owner by alice"); landed != 1 || owners != 1 || (info.Owner != "bob" && info.Owner != "carol") {
		t.Fatalf("%d hand-overs landed, %d owner entries, owner %q; want one", landed, owners, info.Owner)
	}

	// The owner leaves: no say any more, not even to come back; an admin
	// adds them back and they manage the room again.
	owner := tripsense.Principal{UserID: info.Owner}
	if err := f.svc.RemoveMemberAs(ctx, owner, "trip", owner.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateRoom(ctx, owner, "trip", ptr("mine"), nil); tripsense.ErrorCode(err) != tripsense.EFORBIDDEN {
		t.Fatalf("rename by an owner who left: %v, want forbidden", err)
	}
	if err := f.svc.AddMemberAs(ctx, owner, "trip", owner.UserID); tripsense.ErrorCode(err) != tripsense.EFORBIDDEN {
		t.Fatalf("an owner who left adds themself back: %v, want forbidden", err)
	}
	if err := f.svc.AddMemberAs(ctx, root, "trip", owner.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateRoom(ctx, owner, "trip", ptr("back"), nil); err != nil {
		t.Fatalf("rename by the owner added back: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

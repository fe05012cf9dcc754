package catchup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

func mustEvent(t *testing.T, st tripsense.MessageStore, nm tripsense.NewMessage) {
	t.Helper()
	if _, _, err := st.Append(context.Background(), nm); err != nil {
		t.Fatalf("%+v: %v", nm, err)
	}
}

// History folds the log: messages only, each in its current state, and
// paging by index still works with events between the messages.
func TestHistoryFoldsEvents(t *testing.T) {
	t.Parallel()
	st := MustStore(t, map[string]int{"uuidroom2": 3}) // 1..3 by uuid2
	ev := func(kind string, user string, target int64, body, reaction string) tripsense.NewMessage {
		return tripsense.NewMessage{Room: "uuidroom2", UserID: user, Kind: kind, Target: target, Body: body, Reaction: reaction}
	}
	mustEvent(t, st, ev(tripsense.KindEdit, "uuid2", 1, "one, edited", ""))                                       // 4
	mustEvent(t, st, ev(tripsense.KindReaction, "uuid1", 1, "", "👍"))                                             // 5
	mustEvent(t, st, ev(tripsense.KindReaction, "uuid2", 1, "", "👍"))                                             // 6
	mustEvent(t, st, ev(tripsense.KindDelete, "uuid2", 2, "", ""))                                                // 7
	mustEvent(t, st, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid1", Body: "re", Type: "t", ReplyTo: 1}) // 8
	svc := &catchup.Service{Store: st}
	ctx := context.Background()

	p, err := svc.History(ctx, "uuid1", "uuidroom2", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := indexes(p.Messages); !equal(got, []int64{1, 2, 3, 8}) || p.HasMore {
		t.Fatalf("history = %v hasMore %v, want the messages 1 2 3 8", got, p.HasMore)
	}
	var page struct {
		Messages []map[string]any `json:"messages"`
	}
	var buf bytes.Buffer
	if err := svc.WriteHistory(ctx, &buf, "uuid1", "uuidroom2", 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	m1, m2, m8 := page.Messages[0], page.Messages[1], page.Messages[3]
	if m1["chatMessage"] != "one, edited" || m1["edited"] != true || m1["editedAt"] == nil ||
		m1["reactions"].(map[string]any)["👍"] != float64(2) {
		t.Fatalf("edited message = %v", m1)
	}
	if _, ok := m2["chatMessage"]; ok || m2["deleted"] != true || m2["deletedBy"] != "uuid2" {
		t.Fatalf("deleted message = %v", m2)
	}
	if m8["replyTo"] != float64(1) {
		t.Fatalf("reply = %v", m8)
	}
	// Paging by index over the events: after=3 skips 4..7.
	p, err = svc.History(ctx, "uuid1", "uuidroom2", 3, 0, 1)
	if err != nil || !equal(indexes(p.Messages), []int64{8}) || p.HasMore {
		t.Fatalf("after 3: %v hasMore %v, %v", indexes(p.Messages), p.HasMore, err)
	}
	p, err = svc.History(ctx, "uuid1", "uuidroom2", 0, 8, 1)
	if err != nil || !equal(indexes(p.Messages), []int64{3}) || !p.HasMore || p.Next != 3 {
		t.Fatalf("before 8: %v hasMore %v next %d, %v", indexes(p.Messages), p.HasMore, p.Next, err)
	}
	// Catch-up is the log itself: every entry, with its kind, in order.
	rs, err := svc.Sync(ctx, "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom2": 0}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range rs[1].Messages {
		kinds = append(kinds, m.EntryKind())
	}
	want := []string{"message", "message", "message", "edit", "reaction", "reaction", "delete", "message"}
	if len(kinds) != len(want) {
		t.Fatalf("kinds %v", kinds)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("kinds %v, want %v", kinds, want)
		}
	}
}

// A catch-up from a cursor below the oldest kept index says truncated, and
// so does history at the retention edge.
func TestRetentionTruncates(t *testing.T) {
	t.Parallel()
	st := MustStore(t, nil)
	old := time.Now().Add(-2 * time.Hour)
	for i := range 4 {
		mustEvent(t, st, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid2", Body: "m", Type: "t", CreateTime: old.Add(time.Duration(i) * time.Minute)})
	}
	for range 2 {
		mustEvent(t, st, tripsense.NewMessage{Room: "uuidroom2", UserID: "uuid2", Body: "new", Type: "t"})
	}
	if n, err := st.Prune(context.Background(), time.Now().Add(-time.Hour), 100); err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	svc := &catchup.Service{Store: st}
	ctx := context.Background()
	rs, err := svc.Sync(ctx, "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom2": 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[1]
	if !r.Truncated || r.Oldest != 5 || r.From != 5 || !equal(indexes(r.Messages), []int64{5, 6}) || !r.Complete {
		t.Fatalf("sync from 1: %+v", r)
	}
	rs, _ = svc.Sync(ctx, "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom2": 4}, 0)
	if rs[1].Truncated {
		t.Fatalf("a cursor at the edge is not truncated: %+v", rs[1])
	}
	var buf bytes.Buffer
	if err := svc.WriteSync(ctx, &buf, "uuid1", tripsense.DefaultDevice, map[string]int64{"uuidroom2": 0}, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"truncated":true,"oldest":5`)) {
		t.Fatalf("streamed sync: %s", buf.Bytes())
	}
	p, err := svc.History(ctx, "uuid1", "uuidroom2", 0, 0, 0)
	if err != nil || !p.Truncated || p.Oldest != 5 || !equal(indexes(p.Messages), []int64{5, 6}) {
		t.Fatalf("history from the start: %+v, %v", p, err)
	}
	p, err = svc.History(ctx, "uuid1", "uuidroom2", 0, 7, 5)
	if err != nil || !p.Truncated || p.HasMore || !equal(indexes(p.Messages), []int64{5, 6}) {
		t.Fatalf("older page to the edge: %+v, %v", p, err)
	}
	p, err = svc.History(ctx, "uuid1", "uuidroom2", 0, 7, 1)
	if err != nil || p.Truncated || !p.HasMore || p.Next != 6 {
		t.Fatalf("older page short of the edge: %+v, %v", p, err)
	}
}

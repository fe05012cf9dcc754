package catchup_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func msg(room string, i int64) tripsense.Message {
	return tripsense.Message{Room: room, Index: i, UserID: "uuid2", Body: "hi \"there\"", Type: "text message",
		CreateTime: t0.Add(time.Duration(i) * time.Second)}
}

func TestEncodeGolden(t *testing.T) {
	t.Parallel()
	withID := msg("uuidroom2", 4)
	withID.ClientMsgID = "c-1"
	tests := []struct {
		golden string
		v      json.Marshaler
	}{
		{"roomsync_incomplete.json", catchup.RoomSync{Room: "uuidroom2", LastSeen: 2, Head: 5, Unread: 3, From: 3, To: 4,
			Messages: []tripsense.Message{msg("uuidroom2", 3), withID}, Next: 4}},
		{"roomsync_empty.json", catchup.RoomSync{Room: "uuidroom1", LastSeen: 5, Head: 5, From: 6, To: 5, Complete: true}},
		{"history_more.json", catchup.HistoryPage{Room: "uuidroom2", Head: 5, Messages: []tripsense.Message{msg("uuidroom2", 4), msg("uuidroom2", 5)},
			HasMore: true, Next: 4}},
		{"history_last.json", catchup.HistoryPage{Room: "uuidroom3"}},
		{"roomsync_lifecycle.json", catchup.RoomSync{Room: "uuidroom2", LastSeen: 4, Head: 9, Unread: 5, From: 5, To: 9, Complete: true,
			Truncated: true, Oldest: 5, Messages: lifecycleEntries()}},
		{"history_lifecycle.json", catchup.HistoryPage{Room: "uuidroom2", Head: 9, Messages: lifecycleState(), Truncated: true, Oldest: 5}},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", tt.golden))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.TrimSpace(want)) {
			t.Errorf("%s:\n got %s\nwant %s", tt.golden, got, want)
		}
	}
}

// TestAppendJSONAllocatesNothing checks that encoding a page into a buffer
// with room costs no allocation, however many messages it holds.
func TestAppendJSONAllocatesNothing(t *testing.T) {
	msgs := make([]tripsense.Message, 1000)
	for i := range msgs {
		msgs[i] = msg("uuidroom1", int64(i+1))
	}
	rs := catchup.RoomSync{Room: "uuidroom1", Head: 1000, Unread: 1000, From: 1, To: 1000, Messages: msgs, Complete: true}
	hp := catchup.HistoryPage{Room: "uuidroom1", Head: 1000, Messages: msgs}
	buf := make([]byte, 0, catchup.EstimateSize(msgs))
	if n := testing.AllocsPerRun(10, func() { buf = rs.AppendJSON(buf[:0]) }); n != 0 {
		t.Fatalf("RoomSync.AppendJSON: %v allocations", n)
	}
	if n := testing.AllocsPerRun(10, func() { buf = hp.AppendJSON(buf[:0]) }); n != 0 {
		t.Fatalf("HistoryPage.AppendJSON: %v allocations", n)
	}
	if len(buf) > cap(make([]byte, 0, catchup.EstimateSize(msgs))) {
		t.Fatalf("EstimateSize too small: %d bytes needed", len(buf))
	}
}

func BenchmarkRoomSyncAppendJSON(b *testing.B) {
	msgs := make([]tripsense.Message, tripsense.DefaultPageLimit)
	for i := range msgs {
		msgs[i] = msg("uuidroom1", int64(i+1))
	}
	rs := catchup.RoomSync{Room: "uuidroom1", Head: 100, Unread: 100, From: 1, To: 100, Messages: msgs, Complete: true}
	buf := make([]byte, 0, catchup.EstimateSize(msgs))
	b.ReportAllocs()
	for b.Loop() {
		buf = rs.AppendJSON(buf[:0])
	}
}

var lifeTime = time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC)

// lifecycleEntries is a log with a message, a reply, an edit, a reaction
// and a delete, as catch-up shows it.
func lifecycleEntries() []tripsense.Message {
	m5 := msg("uuidroom2", 5)
	m5.EditedAt = lifeTime
	m5.Body = "edited"
	reply := msg("uuidroom2", 6)
	reply.ReplyTo = 5
	return []tripsense.Message{m5, reply,
		{Room: "uuidroom2", Index: 7, UserID: "uuid2", Kind: tripsense.KindEdit, Target: 5, Body: "edited", CreateTime: lifeTime},
		{Room: "uuidroom2", Index: 8, UserID: "uuid1", Kind: tripsense.KindReaction, Target: 5, Reaction: "👍", CreateTime: lifeTime, ClientMsgID: "r-1"},
		{Room: "uuidroom2", Index: 9, UserID: "uuid1", Kind: tripsense.KindDelete, Target: 6, CreateTime: lifeTime},
	}
}

// lifecycleState is the same log as history folds it.
func lifecycleState() []tripsense.Message {
	e := lifecycleEntries()
	m5, m6 := e[0], e[1]
	m5.Reactions = []tripsense.Reaction{{UserID: "uuid1", Reaction: "👍"}, {UserID: "uuid3", Reaction: "👍"}, {UserID: "uuid3", Reaction: "ok"}}
	m6.Body, m6.Deleted, m6.DeletedBy, m6.DeletedAt = "", true, "uuid1", lifeTime
	return []tripsense.Message{m5, m6}
}

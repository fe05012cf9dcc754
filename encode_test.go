package tripsense_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

func TestMessageAppendJSONRoundTrips(t *testing.T) {
	t.Parallel()
	bodies := []string{"hi", "", "quote \" back \\ slash", "ctl \x00\x01\x1f\n\r\t", "emoji 😀 and \u2028\u2029", "bad \xff utf8", "<html>&"}
	for _, body := range bodies {
		m := tripsense.Message{Room: "r1", Index: 42, UserID: "u1", Body: body, Type: "text message",
			CreateTime: time.Date(2026, 11, 25, 1, 2, 3, 4_000_000, time.UTC), ClientMsgID: "c-1"}
		b := m.AppendJSON(nil, "message")
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("body %q: invalid JSON %s: %v", body, b, err)
		}
		want := body
		if body == "bad \xff utf8" {
			want = "bad \ufffd utf8"
		}
		if got["chatMessage"] != want || got["type"] != "message" || got["index"] != float64(42) ||
			got["createTime"] != "2026-11-25T01:02:03.004Z" || got["clientMsgId"] != "c-1" {
			t.Fatalf("body %q: got %v", body, got)
		}
	}
}

func TestMessageMarshalOmitsEmptyClientMsgID(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(tripsense.Message{Room: "r", Index: 1, UserID: "u", Body: "b", Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["clientMsgId"]; ok {
		t.Fatalf("clientMsgId present: %s", b)
	}
	if _, ok := got["type"]; ok {
		t.Fatalf("type present: %s", b)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	m := tripsense.Message{Room: "uuidroom2", Index: 123456, UserID: "uuid1", Body: "See if uuid2 receives this message", Type: "text message", CreateTime: time.Now()}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.AppendJSON(buf[:0], "message")
	}
}

// TestJSONSizeHintFitsTheLiveFrame: a new message's live frame (the
// longest index, a reply, the longest ids of the protocol) fits the hint,
// so messageOut encodes it with one allocation.
func TestJSONSizeHintFitsTheLiveFrame(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("r", 128)
	for _, m := range []tripsense.Message{
		{Room: "uuidroom2", Index: 1, UserID: "uuid1", Body: "hi", Type: "text message", CreateTime: time.Now()},
		{Room: long, Index: math.MaxInt64, UserID: long, Body: strings.Repeat("x", 16384), Type: strings.Repeat("t", 64),
			ClientMsgID: strings.Repeat("c", 128), ReplyTo: math.MaxInt64, CreateTime: time.Date(2026, 12, 31, 23, 59, 59, 999e6, time.UTC)},
		{Room: long, Index: math.MaxInt64, UserID: long, Kind: tripsense.KindReaction, Target: math.MaxInt64, Reaction: strings.Repeat("e", 64),
			Remove: true, ClientMsgID: strings.Repeat("c", 128), CreateTime: time.Now()},
	} {
		out := m.AppendJSON(nil, m.FrameType())
		if len(out) > m.JSONSizeHint() {
			t.Errorf("frame of %d bytes over the hint %d: %s", len(out), m.JSONSizeHint(), out[:min(len(out), 200)])
		}
	}
}

package tripsense_test

import (
	"encoding/json"
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

package loadgen

import (
	"encoding/json"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []stamp{
		{Sender: 0, Slot: 0, Seq: 1, Nanos: 1},
		{Sender: 999999, Slot: 1023, Seq: 1<<40 - 1, Nanos: 1<<63 - 1},
		{Sender: 42, Slot: 7, Seq: 123456, Nanos: 1_723_456_789_012_345_678},
	} {
		for _, size := range []int{0, minPayloadSize, 100, 4096} {
			b := appendPayload(nil, s, size)
			if len(b) < size {
				t.Fatalf("payload %q shorter than %d", b, size)
			}
			if size >= minPayloadSize && len(b) != size {
				t.Fatalf("payload length %d, want exactly %d", len(b), size)
			}
			got, ok := parsePayload(b)
			if !ok || got != s {
				t.Fatalf("parsePayload(%q) = %+v, %v; want %+v", b, got, ok, s)
			}
		}
		for _, random := range []bool{false, true} {
			id := appendClientMsgID(nil, s, random)
			sender, slot, seq, ok := parseClientMsgID(id)
			if !ok || sender != s.Sender || slot != s.Slot || seq != s.Seq {
				t.Fatalf("parseClientMsgID(%q) = %d %d %d %v", id, sender, slot, seq, ok)
			}
		}
	}
}

func TestPayloadRejectsForeignText(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "hi", "lg:", "lg:1:2:3", "lg:1:2:3:x:", "lg:a:2:3:4:", "xx:1:2:3:4:", "lg:1:2:3:99999999999999999999:"} {
		if s, ok := parsePayload([]byte(in)); ok {
			t.Errorf("parsePayload(%q) = %+v, want rejection", in, s)
		}
	}
	for _, in := range []string{"", "1.2", "1.2.", "1.2.3.4", "a.b.c", "1..3", "1.2.3x", "r1.2.3", "r0123456789abcdef1.2.3", "r0123456789abcdef."} {
		if _, _, _, ok := parseClientMsgID([]byte(in)); ok {
			t.Errorf("parseClientMsgID(%q) accepted", in)
		}
	}
}

func TestSendFrameIsTheProtocolsJSON(t *testing.T) {
	t.Parallel()
	s := stamp{Sender: 3, Slot: 1, Seq: 9, Nanos: 1_700_000_000_000_000_000}
	b := appendSendFrame(nil, "bench-x0-u00004", "bench-x0-r0001", s, 120, false)
	var f struct {
		Action, UserID, ChatroomID, ChatMessage, MessageType, ClientMsgID string
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	if f.Action != "sendMessage" || f.UserID != "bench-x0-u00004" || f.ChatroomID != "bench-x0-r0001" ||
		f.MessageType != "text message" || f.ClientMsgID != "3.0000000000000009.1" || len(f.ChatMessage) != 120 {
		t.Fatalf("frame = %+v", f)
	}
	if got, ok := parsePayload([]byte(f.ChatMessage)); !ok || got != s {
		t.Fatalf("payload = %+v, %v", got, ok)
	}
}

// TestClientMsgIDsSortAsAsked: ordered ids of one sender sort in send order
// (what keeps the server's dedupe index append-only), random ones do not.
func TestClientMsgIDsSortAsAsked(t *testing.T) {
	t.Parallel()
	for _, random := range []bool{false, true} {
		inOrder := 0
		prev := ""
		for seq := uint64(1); seq <= 1000; seq++ {
			id := string(appendClientMsgID(nil, stamp{Sender: 7, Slot: int(seq % 256), Seq: seq}, random))
			if id > prev {
				inOrder++
			}
			prev = id
		}
		if !random && inOrder != 1000 {
			t.Fatalf("ordered ids: %d of 1000 sort after the one before", inOrder)
		}
		if random && (inOrder < 350 || inOrder > 650) {
			t.Fatalf("random ids: %d of 1000 sort after the one before, want about half", inOrder)
		}
	}
}

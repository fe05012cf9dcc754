package bolt

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	for _, nm := range []tripsense.NewMessage{
		{UserID: "u1", Body: "hi", Type: "text message", ClientMsgID: "c-1"},
		{UserID: "", Body: "", Type: "", ClientMsgID: ""},
		{UserID: "ü", Body: "😀\x00\xff", Type: "t", ClientMsgID: string(bytes.Repeat([]byte("x"), 300))},
	} {
		for _, ms := range []int64{0, -1, 1_790_000_000_123, -62135596800000} {
			m, err := decodeMessage("room", 7, encodeMessage(&nm, ms))
			if err != nil {
				t.Fatalf("decode %+v: %v", nm, err)
			}
			want := tripsense.Message{Room: "room", Index: 7, UserID: nm.UserID, Body: nm.Body, Type: nm.Type,
				CreateTime: time.UnixMilli(ms).UTC(), ClientMsgID: nm.ClientMsgID}
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("round trip: got %+v, want %+v", m, want)
			}
		}
	}
}

func TestCodecRejectsCorrupt(t *testing.T) {
	t.Parallel()
	good := encodeMessage(&tripsense.NewMessage{UserID: "user", Type: "type", ClientMsgID: "cid", Body: "body"}, 5)
	for name, v := range map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{9}, good[1:]...),
		"short user":  good[:3],
		"huge length": {codecVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeMessage("r", 1, v); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want errCorrupt", name, err)
		}
	}
}

func TestKeysArePrefixFree(t *testing.T) {
	t.Parallel()
	// The keys of room "a" must not start with the prefix of room "ab" or the
	// reverse, whatever the ids contain.
	for _, pair := range [][2]string{{"a", "ab"}, {"ab", "a"}, {"", "a"}, {"a:b", "a"}, {string(bytes.Repeat([]byte("r"), 200)), "r"}} {
		p := prefix(pair[0], 0)
		for _, k := range [][]byte{messageKey(pair[1], 1), pairKey(pair[1], "x"), dedupeKey(pair[1], "u", "c")} {
			if bytes.HasPrefix(k, p) {
				t.Errorf("key of %q starts with the prefix of %q", pair[1], pair[0])
			}
		}
	}
	if bytes.Compare(messageKey("r", 255), messageKey("r", 256)) >= 0 {
		t.Error("message keys do not sort by index")
	}
	if bytes.Compare(pairKey("u", "r1"), pairKey("u", "r10")) >= 0 || bytes.Compare(pairKey("u", "r10"), pairKey("u", "r2")) >= 0 {
		t.Error("pair keys do not sort by their second component")
	}
}

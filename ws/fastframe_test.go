package ws

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tripsense/tripsense"
)

// slowDecode is decodeFrame's full path.
func slowDecode(data []byte) (inFrame, error) {
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return f, err
	}
	if err := tripsense.CheckJSON(data, frameFields); err != nil {
		return inFrame{}, err
	}
	return f, nil
}

var fastFrameSeeds = []string{
	`{"action":"sendMessage","userId":"uuid1","chatroomId":"uuidroom1","chatMessage":"hi","messageType":"text message"}`,
	`{"action":"sendMessage","chatroomId":"r","chatMessage":"x","messageType":"t","clientMsgId":"0189f7c2-7d3a-7b1e-9c4d-2f6a8b0e1d3c"}`,
	" { \"action\" : \"sendMessage\" ,\n\t\"chatMessage\":\"Grüße ✈\"}\r\n",
	`{"action":"ping"}`, `{"action":""}`, `{}`, `{"action":"sendMessage","action":"x"}`,
	`{"action":"sendMessage","Action":"x"}`, `{"action":"sendMessage","chatMessage":"a\"b"}`,
	`{"action":"sendMessage","chatMessage":"a\u0041"}`, `{"action":"sendMessage","chatMessage":null}`,
	`{"action":"sendMessage","index":3}`, `{"action":"sendMessage"}x`, `{"action":"sendMessage",}`,
	"{\"action\":\"sendMessage\",\"chatMessage\":\"\xff\"}", "{\"action\":\"sendMessage\",\"chatMessage\":\"a\tb\"}",
	`{"action":"sendMessage","userId":"u","unknown":"v"}`, `[]`, `"x"`, ``,
}

// TestFastPathTakesTheUsualSend: the frames the SDK and the load generator
// send take the fast path, and everything else the full one.
func TestFastPathTakesTheUsualSend(t *testing.T) {
	t.Parallel()
	for i, s := range fastFrameSeeds {
		_, ok := decodeSendFast([]byte(s))
		want := i < 4 // the first four are plain; the rest need the full path
		if ok != want {
			t.Errorf("decodeSendFast(%q) ok = %v, want %v", s, ok, want)
		}
	}
}

// FuzzDecodeSendFast: whatever the fast path accepts, the full path accepts
// too and decodes to the same frame.
func FuzzDecodeSendFast(f *testing.F) {
	for _, s := range fastFrameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeSendFast(data)
		if !ok {
			return
		}
		slow, err := slowDecode(data)
		if err != nil {
			t.Fatalf("fast path accepted %q, the full path refused it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, full %+v", data, fast, slow)
		}
	})
}

package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseFrameServerFrames(t *testing.T) {
	t.Parallel()
	var f frame
	msg := `{"type":"message","chatroomId":"r1","index":42,"userId":"u2","chatMessage":"lg:1:2:3:4:xx","messageType":"text message","createTime":"2024-01-01T00:00:00.000Z","clientMsgId":"1.2.3"}`
	if err := parseFrame([]byte(msg), &f); err != nil {
		t.Fatal(err)
	}
	if string(f.Type) != "message" || string(f.Room) != "r1" || f.Index != 42 || string(f.UserID) != "u2" ||
		string(f.ChatMessage) != "lg:1:2:3:4:xx" || string(f.ClientMsgID) != "1.2.3" {
		t.Fatalf("message frame = %+v", f)
	}
	ack := ` { "type" : "ack", "chatroomId":"r1","index":7,"clientMsgId":"0.0.1","createTime":"x","duplicate":true } `
	if err := parseFrame([]byte(ack), &f); err != nil || string(f.Type) != "ack" || f.Index != 7 || !f.Duplicate {
		t.Fatalf("ack = %+v, %v", f, err)
	}
	errFrame := `{"type":"error","code":"rate_limited","message":"too \"many\" \u00e9","action":"sendMessage","clientMsgId":"1.0.5"}`
	if err := parseFrame([]byte(errFrame), &f); err != nil || string(f.Code) != "rate_limited" || string(f.Message) != `too "many" é` {
		t.Fatalf("error = %+v (%s), %v", f, f.Message, err)
	}
	synced := `{"type":"synced","chatroomId":"r1","head":10000,"complete":true,"extra":{"a":[1,{"b":"]}"}],"c":null},"neg":-1.5e3}`
	if err := parseFrame([]byte(synced), &f); err != nil || f.Head != 10000 || !f.Complete {
		t.Fatalf("synced = %+v, %v", f, err)
	}
}

func TestParseFrameRejectsMalformed(t *testing.T) {
	t.Parallel()
	var f frame
	for _, in := range []string{
		``, `[]`, `{`, `{"type":}`, `{"type":"a"`, `{"type":"a",}`, `{"type" "a"}`,
		`{"index":"7"}`, `{"index":1.5}`, `{"index":99999999999999999999}`, `{"complete":"yes"}`,
		`{"type":"a"} x`, `{"type":"a\u0001` + "\x01" + `"}`, `{"a":tru}`, `{"a":[1,2}`,
	} {
		if err := parseFrame([]byte(in), &f); err == nil {
			t.Errorf("parseFrame(%q) succeeded", in)
		}
	}
}

func TestEachElemPages(t *testing.T) {
	t.Parallel()
	page := map[string]any{"chatroomId": "r", "head": 3, "hasMore": false, "messages": []map[string]any{
		{"chatroomId": "r", "index": 1, "chatMessage": "a,b]c"}, {"chatroomId": "r", "index": 2}, {"chatroomId": "r", "index": 3},
	}}
	b, _ := json.Marshal(page)
	var idx []int64
	var f frame
	err := eachField(b, func(k, v []byte) error {
		if string(k) != "messages" {
			return nil
		}
		return eachElem(v, func(m []byte) error {
			if err := parseFrame(m, &f); err != nil {
				return err
			}
			idx = append(idx, f.Index)
			return nil
		})
	})
	if err != nil || len(idx) != 3 || idx[0] != 1 || idx[2] != 3 {
		t.Fatalf("indexes %v, %v", idx, err)
	}
	if err := eachElem([]byte(` [ ] `), func([]byte) error { t.Fatal("no element"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestIndexCheck(t *testing.T) {
	t.Parallel()
	c := newIndexCheck()
	for _, i := range []int64{1, 2, 2, 4, 5} {
		c.add(i)
	}
	c.finish(7)
	if c.lost != 3 || c.dups != 1 || c.n != 5 { // 3, 6, 7 missing
		t.Fatalf("check = %+v", c)
	}
}

// BenchmarkParseFrame is the load generator's cost per delivered message
// frame (200-byte body, as the peer presets send).
func BenchmarkParseFrame(b *testing.B) {
	body := "lg:1:2:3:1733000000000000000:" + strings.Repeat("x", 171)
	msg := []byte(`{"type":"message","chatroomId":"bench-4sr4te0-r0042","index":123456,"userId":"bench-4sr4te0-u00417","kind":"message","chatMessage":"` +
		body + `","messageType":"text message","createTime":"2026-12-01T14:18:57.598Z","clientMsgId":"417.0000000000001234.17"}`)
	var f frame
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := parseFrame(msg, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// scanStringByte is scanString as it was, a byte at a time: the reference
// the vectorised one must agree with.
func scanStringByte(b []byte, i int) (end int, escaped bool, err error) {
	i++
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			i += 2
		case c < 0x20:
			return 0, false, errJSON
		default:
			i++
		}
	}
	return 0, false, errJSON
}

func TestScanStringAgreesWithTheByteScan(t *testing.T) {
	t.Parallel()
	check := func(in []byte) {
		t.Helper()
		e1, x1, err1 := scanString(in, 0)
		e2, x2, err2 := scanStringByte(in, 0)
		if e1 != e2 || x1 != x2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: vectorised (%d, %v, %v), byte scan (%d, %v, %v)", in, e1, x1, err1, e2, x2, err2)
		}
	}
	for _, s := range []string{`"`, `""`, `"a"`, `"\"`, `"\\"`, `"\""`, `"a\"b"x`, `"\`, `"abc\"`, `"é ✓ \u00e9"`,
		"\"\x1f\"", "\"abcdefgh\x00ijk\"", "\"abcdefghijklmnop\x7f\x80\xff\"", "\"\\\x01\"", `"01234567\"89"rest"`} {
		check([]byte(s))
	}
	// Random strings over an alphabet heavy in quotes, backslashes, control
	// and high bytes, at every length up to 40 (the 8-byte blocks and their tails).
	alphabet := []byte{'"', '\\', 'a', 'z', ' ', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0x9f, 0xa0, 0xdf, 0xe0, 0xff}
	seed := uint64(1)
	for n := range 200000 {
		in := make([]byte, 1+n%40)
		in[0] = '"'
		for i := 1; i < len(in); i++ {
			seed = seed*6364136223846793005 + 1442695040888963407
			in[i] = alphabet[(seed>>33)%uint64(len(alphabet))]
		}
		check(in)
	}
}

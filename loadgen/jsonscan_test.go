package loadgen

import (
	"encoding/json"
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

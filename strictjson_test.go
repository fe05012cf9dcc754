package tripsense_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
)

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	fields := []string{"action", "chatMessage", "cursors"}
	for _, c := range []struct {
		in   string
		want string // "" accepts; else a substring of the error
	}{
		{`{"action":"ping"}`, ""},
		{` { "action" : "ping" , "chatMessage" : "a \"quoted\" \\ text" } `, ""},
		{`{"action":"ping","extra":{"a":[1,2,{"b":null}],"c":true}}`, ""},
		{`{"cursors":{"r1":1,"r2":2}}`, ""},
		{`{"\u0061ction":"ping"}`, ""}, // an escaped name is compared unescaped
		{`[1,2,3]`, ""},
		{`"just a string"`, ""},
		{`{"ACTION":"ping"}`, `case-sensitive (did you mean "action"?)`},
		{`{"chatmessage":"hi"}`, `did you mean "chatMessage"`},
		{`{"action":"ping","action":"sync"}`, `field "action" is given more than once`},
		{`{"action":"ping","\u0061ction":"sync"}`, `field "action" is given more than once`},
		{`{"cursors":{"r1":1,"r1":5}}`, `field "r1" is given more than once`},
		{`{"x":[{"a":1,"a":2}]}`, `field "a" is given more than once`},
		{"{\"chatMessage\":\"\xff\"}", "valid UTF-8"},
		{strings.Repeat("[", 40) + strings.Repeat("]", 40), "nested"},
	} {
		err := tripsense.CheckJSON([]byte(c.in), fields)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", c.in, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.in, err, c.want)
		case err != nil && tripsense.ErrorCode(err) != tripsense.EINVALID:
			t.Errorf("%s: code %s, want bad_request", c.in, tripsense.ErrorCode(err))
		}
	}
}

// TestCheckJSONManyMembers: objects past the small inline set still find
// duplicates.
func TestCheckJSONManyMembers(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"cursors":{`)
	for i := 0; i < 40; i++ {
		b.WriteString(`"r` + strings.Repeat("x", i) + `":1,`)
	}
	ok := b.String() + `"last":1}}`
	if err := tripsense.CheckJSON([]byte(ok), nil); err != nil {
		t.Fatalf("40 distinct members: %v", err)
	}
	dup := b.String() + `"rxxx":1}}`
	if err := tripsense.CheckJSON([]byte(dup), nil); err == nil {
		t.Fatal("a duplicate after 40 members was accepted")
	}
}

func TestCheckJSONAllocatesNothingForPlainInput(t *testing.T) {
	in := []byte(`{"action":"sendMessage","chatroomId":"r","chatMessage":"` + strings.Repeat("x", 1000) + `","messageType":"t","cursors":{"a":1}}`)
	fields := []string{"action", "chatroomId", "chatMessage", "messageType", "cursors"}
	if n := testing.AllocsPerRun(100, func() { _ = tripsense.CheckJSON(in, fields) }); n != 0 {
		t.Fatalf("%v allocations per check, want 0", n)
	}
}

func TestJSONFieldNames(t *testing.T) {
	t.Parallel()
	type body struct {
		UserID   string `json:"userId"`
		LastSeen *int64 `json:"lastSeen,omitempty"`
		Plain    int
		Skipped  int `json:"-"`
		hidden   int
	}
	_ = body{}.hidden
	got := tripsense.JSONFieldNames(reflect.TypeOf(&body{}))
	if want := []string{"userId", "lastSeen", "Plain"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestJSONStringMember(t *testing.T) {
	t.Parallel()
	in := `{"chatMessage":"has \"action\":\"x\" inside","n":[1,{"action":"nested"}],"action":"sendMessage","clientMsgId":"c\u002d1"}`
	if v, ok := tripsense.JSONStringMember([]byte(in), "action"); !ok || v != "sendMessage" {
		t.Errorf("action = %q %v", v, ok)
	}
	if v, ok := tripsense.JSONStringMember([]byte(in), "clientMsgId"); !ok || v != "c-1" {
		t.Errorf("clientMsgId = %q %v", v, ok)
	}
	for _, junk := range []string{"", "xxxx", `{"action":`, `{"action":1}`, `[{"action":"x"}]`, `{"a":1 "action":"x"}`} {
		if v, ok := tripsense.JSONStringMember([]byte(junk), "action"); ok {
			t.Errorf("%q: found %q", junk, v)
		}
	}
	// Consistent with the decoder on what it does find.
	var f struct {
		Action string `json:"action"`
	}
	_ = json.Unmarshal([]byte(in), &f)
	if v, _ := tripsense.JSONStringMember([]byte(in), "action"); v != f.Action {
		t.Errorf("scanner %q, decoder %q", v, f.Action)
	}
}

func TestJSONStringMemberIn(t *testing.T) {
	// Not parallel: it counts allocations.
	names := []string{"message", "ack", "error"}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"type":"ack","clientMsgId":"c"}`, "ack", true},
		{`{"body":"has \"type\":\"error\" inside","type":"message"}`, "message", true},
		{`{"type":"a\u0063k"}`, "ack", true}, // escaped, decoded before the comparison
		{`{"type":"acks"}`, "", false},
		{`{"type":"ac"}`, "", false},
		{`{"type":""}`, "", false},
		{`{"kind":"ack"}`, "", false},
		{`{"type":1}`, "", false},
		{`{"type":"ack"`, "ack", true}, // best effort, like JSONStringMember: the member is whole
		{`{"type":"ack`, "", false},
		{`junk`, "", false},
	} {
		if got, ok := tripsense.JSONStringMemberIn([]byte(tc.in), "type", names); got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	data := []byte(`{"action":"sendMessage","chatroomId":"r"}`)
	if n := testing.AllocsPerRun(100, func() { tripsense.JSONStringMemberIn(data, "action", []string{"sendMessage"}) }); n != 0 {
		t.Errorf("JSONStringMemberIn allocates %v times per call", n)
	}
}

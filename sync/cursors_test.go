package catchup_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

func TestParseCursors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("r", tripsense.MaxIDLen)
	many := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("room%d:%d", i, i)
		}
		return strings.Join(parts, ",")
	}
	tests := []struct {
		in   string
		want map[string]int64
		msg  string // expected error message; "" means success
	}{
		{in: "", want: map[string]int64{}},
		{in: "uuidroom1:5", want: map[string]int64{"uuidroom1": 5}},
		{in: "uuidroom1:5,uuidroom2:4", want: map[string]int64{"uuidroom1": 5, "uuidroom2": 4}},
		{in: "uuidroom1:0", want: map[string]int64{"uuidroom1": 0}},
		{in: "a:b:c:7", want: map[string]int64{"a:b:c": 7}},
		{in: "r:9223372036854775807", want: map[string]int64{"r": 1<<63 - 1}},
		{in: "r:007", want: map[string]int64{"r": 7}},
		{in: long + ":1", want: map[string]int64{long: 1}},
		{in: "uuidroom1", msg: "after: entry 1 is not room:index"},
		{in: "uuidroom1:5,", msg: "after: entry 2 is not room:index"},
		{in: ",uuidroom1:5", msg: "after: entry 1 is not room:index"},
		{in: "a:1,,b:2", msg: "after: entry 2 is not room:index"},
		{in: ":5", msg: "after: entry 1 has an invalid room id (1-128 characters of [A-Za-z0-9_.:@-])"},
		{in: "bad room:5", msg: "after: entry 1 has an invalid room id (1-128 characters of [A-Za-z0-9_.:@-])"},
		{in: long + "r:1", msg: "after: entry 1 has an invalid room id (1-128 characters of [A-Za-z0-9_.:@-])"},
		{in: "r:", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "r:-1", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "r:+1", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "r: 1", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "r:1.5", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "r:0x10", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "r:9223372036854775808", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "r:00000000000000000001", msg: "after: entry 1 has an invalid index (a non-negative integer)"},
		{in: "a:1,b:2,a:3", msg: "after: entry 3 repeats room a"},
		{in: many(catchup.MaxCursors), want: nil},
		{in: many(catchup.MaxCursors + 1), msg: "after: at most 1000 room:index entries"},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := catchup.ParseCursors(tt.in)
			if tt.msg != "" {
				if tripsense.ErrorCode(err) != tripsense.EINVALID || tripsense.ErrorMessage(err) != tt.msg {
					t.Fatalf("err = %v, want %s: %s", err, tripsense.EINVALID, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFormatCursors(t *testing.T) {
	t.Parallel()
	m := map[string]int64{"uuidroom2": 4, "uuidroom1": 5, "a:b": 0}
	if got, want := catchup.FormatCursors(m), "a:b:0,uuidroom1:5,uuidroom2:4"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := catchup.FormatCursors(nil); got != "" {
		t.Fatalf("nil: %q", got)
	}
}

// FuzzParseCursors checks that ParseCursors never panics, rejects only with
// EINVALID, and that what it accepts is valid and survives FormatCursors.
func FuzzParseCursors(f *testing.F) {
	for _, s := range []string{"", "uuidroom1:5,uuidroom2:4", "a:b:1", "r:-1", "r:9223372036854775808", "a:1,a:2", ",", ":", "r:1,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := catchup.ParseCursors(s)
		if err != nil {
			if tripsense.ErrorCode(err) != tripsense.EINVALID {
				t.Fatalf("%q: error code %q", s, tripsense.ErrorCode(err))
			}
			return
		}
		if len(got) > catchup.MaxCursors {
			t.Fatalf("%q: %d cursors", s, len(got))
		}
		for room, v := range got {
			if !tripsense.ValidID(room) || v < 0 {
				t.Fatalf("%q: accepted %q:%d", s, room, v)
			}
		}
		again, err := catchup.ParseCursors(catchup.FormatCursors(got))
		if err != nil || !maps.Equal(again, got) {
			t.Fatalf("%q: round trip gave %v, %v", s, again, err)
		}
	})
}

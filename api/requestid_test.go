package api_test

import (
	"strings"
	"testing"
)

// TestRequestIDIsValidatedBeforeItIsEchoed: a well-formed client id is
// echoed; a long one, one with spaces, quotes or non-ASCII, or one given
// twice is replaced by a generated id.
func TestRequestIDIsValidatedBeforeItIsEchoed(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	for _, tc := range []struct {
		ids  []string
		keep bool
	}{
		{[]string{"abc-123_x.y:z"}, true},
		{[]string{"0af7651916cd43dd8448eb211c80319c"}, true},
		{[]string{strings.Repeat("a", 65)}, false},
		{[]string{`a"b`}, false},
		{[]string{"a\u00e9"}, false},
		{[]string{"evil level=error msg=forged"}, false},
		{[]string{"a", "b"}, false},
	} {
		var hdr []string
		for _, id := range tc.ids {
			hdr = append(hdr, "X-Request-Id", id)
		}
		res := f.MustDo(t, "GET", "/healthz", "", hdr...)
		got := res.header.Get("X-Request-Id")
		if tc.keep != (got == tc.ids[0]) || got == "" || strings.ContainsAny(got, " \"=") || len(got) > 64 {
			t.Errorf("%q: echoed %q (keep %v)", tc.ids, got, tc.keep)
		}
	}
}

package api_test

import (
	"context"
	"strings"
	"testing"
)

// TestBodiesAreDecodedExactly: field names match in their exact case, a
// field given twice is refused, and so are bytes that are not UTF-8;
// nothing is applied.
func TestBodiesAreDecodedExactly(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ method, path, body, user string }{
		"cursor in another case":    {"PUT", "/v1/rooms/uuidroom1/cursor", `{"LastSeen":3}`, "uuid1"},
		"cursor given twice":        {"PUT", "/v1/rooms/uuidroom1/cursor", `{"lastSeen":1,"lastSeen":3}`, "uuid1"},
		"member in another case":    {"POST", "/v1/rooms/uuidroom3/members", `{"USERID":"uuid1"}`, "admin"},
		"member given twice":        {"POST", "/v1/rooms/uuidroom3/members", `{"userId":"nobody","userId":"uuid1"}`, "admin"},
		"member with invalid UTF-8": {"POST", "/v1/rooms/uuidroom3/members", "{\"userId\":\"uuid1\",\"x\xff\":1}", "admin"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := MustServer(t, nil)
			res := f.MustDo(t, c.method, c.path, c.body, "X-User-Id", c.user, "Content-Type", "application/json")
			code, msg, ok := errorOf(res.body)
			if res.status != 400 || !ok || code != "bad_request" {
				t.Fatalf("status %d body %s, want 400 bad_request", res.status, res.body)
			}
			if strings.Contains(msg, "json:") {
				t.Fatalf("message %q shows decoder internals", msg)
			}
			ctx := context.Background()
			if cur, _ := f.st.Cursor(ctx, "uuid1", "", "uuidroom1"); cur.LastSeen != 0 {
				t.Fatalf("cursor moved to %d", cur.LastSeen)
			}
			if cur, _ := f.st.ReadCursor(ctx, "uuid1", "uuidroom1"); cur.LastRead != 0 {
				t.Fatalf("read cursor moved to %d", cur.LastRead)
			}
			if ok, _ := f.st.IsMember(ctx, "uuid1", "uuidroom3"); ok {
				t.Fatal("member added")
			}
		})
	}
}

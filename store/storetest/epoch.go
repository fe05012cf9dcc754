package storetest

import (
	"fmt"
	"regexp"
	"testing"
)

// epochPattern is what an epoch may look like on the wire: a short token.
var epochPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{8,64}$`)

// testEpoch: a store's epoch is a short token, the same on every read and
// after a reopen of the same data, different for other data, and new
// after a restore of the data (while the restored copy holds the same
// messages and keeps its own epoch across a reopen).
func testEpoch(t *testing.T, h *harness) {
	if h.opts.Epoch == nil {
		t.Skip("RunOptions.Epoch is nil: the store has no epoch")
	}
	epoch := func(s *opened) string {
		t.Helper()
		e := h.opts.Epoch(t, s.Store)
		if !epochPattern.MatchString(e) {
			t.Fatalf("epoch %q: want 8-64 letters, digits, - or _", e)
		}
		return e
	}
	s, opener := h.open(t)
	e := epoch(s)
	if again := epoch(s); again != e {
		t.Fatalf("epoch changed between two reads: %q, %q", e, again)
	}
	other, _ := h.open(t)
	if eo := epoch(other); eo == e {
		t.Fatalf("two separate stores share the epoch %q", e)
	}
	for i := range 3 {
		MustAppendNew(t, s, newMsg("r", "u1", fmt.Sprintf("e-%d", i), "before the backup"))
	}
	var restored Opener
	if h.opts.Restore != nil {
		restored = h.opts.Restore(t, s.Store)
		r := h.reopen(t, restored)
		er := epoch(r)
		if er == e {
			t.Fatalf("the restored store kept the epoch %q: clients holding indexes of the original could not tell", e)
		}
		if head := MustHead(t, r, "r"); head != 3 {
			t.Fatalf("restored head %d, want 3", head)
		}
		// The original goes on: its index 4 is not the restored store's 4.
		MustAppendNew(t, s, newMsg("r", "u1", "e-3", "after the backup"))
		if epoch(s) != e {
			t.Fatal("the original store's epoch changed with the restore")
		}
		if h.opts.Reopen {
			r.close(t)
			if again := epoch(h.reopen(t, restored)); again != er {
				t.Fatalf("restored store's epoch after a reopen %q, want %q", again, er)
			}
		}
	}
	if h.opts.Reopen {
		s.close(t)
		if again := epoch(h.reopen(t, opener)); again != e {
			t.Fatalf("epoch after a reopen %q, want %q", again, e)
		}
	}
}

package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// A write queued behind appends, and mostly committed in the same
// transaction, sees the head they gave out: AdvanceCursor clamps to it.
// (A commit that wrote each room's head once, after its appends, failed
// this when it let other writes read the bucket first.)
func TestWritesQueuedBehindAppendsSeeTheirHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{})
	t.Cleanup(func() { _ = s.Close() })
	for round := range 5 {
		room := fmt.Sprintf("r%d", round)
		const n = 40
		appends := make([]tripsense.QueuedAppend, n)
		for i := range appends {
			appends[i] = s.AppendQueued(ctx, tripsense.NewMessage{Room: room, UserID: "u", Body: "b", Type: "text",
				ClientMsgID: fmt.Sprintf("c-%d", i)})
		}
		// Queued behind the appends (the queue is first in, first out),
		// mostly into the same commit.
		c, err := s.AdvanceCursor(ctx, "u", tripsense.DefaultDevice, room, n)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastSeen != n {
			t.Fatalf("round %d: cursor advanced to %d behind %d appends, want %d", round, c.LastSeen, n, n)
		}
		for i, a := range appends {
			m, dup, err := a.Result()
			if err != nil || dup || m.Index != int64(i+1) {
				t.Fatalf("round %d: append %d = index %d, dup %v, %v", round, i, m.Index, dup, err)
			}
		}
		if h := storetest.MustHead(t, s, room); h != n {
			t.Fatalf("round %d: head %d, want %d", round, h, n)
		}
	}
}

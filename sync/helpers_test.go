package catchup_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
)

// MustStore returns a memory store with the seed's demo membership (uuid1
// in uuidroom1 and uuidroom2, uuid2 in uuidroom2 and uuidroom3) and heads
// of the given sizes per room.
func MustStore(tb testing.TB, heads map[string]int) *memory.Store {
	tb.Helper()
	ctx := context.Background()
	st := memory.New()
	for _, m := range [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}} {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			tb.Fatal(err)
		}
	}
	for room, n := range heads {
		MustAppend(tb, st, room, n)
	}
	return st
}

// MustAppend appends n messages to room.
func MustAppend(tb testing.TB, st *memory.Store, room string, n int) {
	tb.Helper()
	for i := 0; i < n; i++ {
		_, _, err := st.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: "uuid2",
			Body: fmt.Sprintf("message %d", i), Type: "text message"})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// MustAdvance sets the stored cursor of (user, room) on the default device.
func MustAdvance(tb testing.TB, st *memory.Store, user, room string, last int64) {
	tb.Helper()
	if _, err := st.AdvanceCursor(context.Background(), user, "", room, last); err != nil {
		tb.Fatal(err)
	}
}

// wantCode fails unless err carries code ("" means no error).
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := tripsense.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// indexes returns the indexes of msgs.
func indexes(msgs []tripsense.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Index
	}
	return out
}

// span returns [lo..hi].
func span(lo, hi int64) []int64 {
	out := []int64{}
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var errBoom = errors.New("disk on fire")

// faulty wraps a store; each non-nil hook replaces the method.
type faulty struct {
	*memory.Store
	head    func(room string) (int64, error)
	after   func(room string, after int64, limit int) ([]tripsense.Message, error)
	rooms   func(user string) ([]string, error)
	advance func() error
}

func (f *faulty) Head(ctx context.Context, room string) (int64, error) {
	if f.head != nil {
		return f.head(room)
	}
	return f.Store.Head(ctx, room)
}

func (f *faulty) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error) {
	if f.after != nil {
		return f.after(room, after, limit)
	}
	return f.Store.MessagesAfter(ctx, room, after, limit)
}

func (f *faulty) Rooms(ctx context.Context, user string) ([]string, error) {
	if f.rooms != nil {
		return f.rooms(user)
	}
	return f.Store.Rooms(ctx, user)
}

func (f *faulty) AdvanceReadCursor(ctx context.Context, user, room string, last int64) (tripsense.ReadCursor, bool, error) {
	if f.advance != nil {
		return tripsense.ReadCursor{}, false, f.advance()
	}
	return f.Store.AdvanceReadCursor(ctx, user, room, last)
}

var _ catchup.Store = (*faulty)(nil)

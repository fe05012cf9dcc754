package memory

import (
	"context"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
)

func TestDedupeRecordPrunedAfterTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New()
	s.now = func() time.Time { return now }
	nm := tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "text message", ClientMsgID: "c-1"}

	first, dup, err := s.Append(ctx, nm)
	if err != nil || dup || first.Index != 1 {
		t.Fatalf("first append: %+v dup=%v err=%v", first, dup, err)
	}
	now = now.Add(tripsense.DedupeTTL - time.Second)
	again, dup, err := s.Append(ctx, nm)
	if err != nil || !dup || again.Index != 1 {
		t.Fatalf("retry within TTL: %+v dup=%v err=%v", again, dup, err)
	}
	now = now.Add(2 * time.Second)
	late, dup, err := s.Append(ctx, nm)
	if err != nil || dup || late.Index != 2 {
		t.Fatalf("retry after TTL: %+v dup=%v err=%v", late, dup, err)
	}
	if len(s.dedupe) != 1 || len(s.dedupeQ) != 1 {
		t.Fatalf("dedupe records = %d, queue = %d, want 1 and 1", len(s.dedupe), len(s.dedupeQ))
	}
}

func TestZeroCreateTimeIsNow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_789_000, time.FixedZone("x", 3600))
	s := New()
	s.now = func() time.Time { return now }
	m, _, err := s.Append(context.Background(), tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.UTC().Truncate(time.Millisecond); !m.CreateTime.Equal(want) || m.CreateTime.Location() != time.UTC {
		t.Fatalf("CreateTime = %v, want %v", m.CreateTime, want)
	}
}

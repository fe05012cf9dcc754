package bolt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// A deleted message's text and its edits' texts leave the data file: the
// records are rewritten without them at once, and the pages that held
// them are gone after Compact. (Before the compaction a freed page may
// still hold the old bytes; the test says whether it did, for the docs.)
func TestDeletedTextLeavesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tripsense.db")
	s := MustOpen(t, path, bolt.Options{})
	ctx := context.Background()
	original, edited := "original-text-7f3c9a", "edited-text-1b2d4e"
	m := storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "alice", Body: original, Type: "text"})
	if _, _, err := s.Append(ctx, tripsense.NewMessage{Room: "r", UserID: "alice", Kind: tripsense.KindEdit, Target: m.Index, Body: edited}); err != nil {
		t.Fatal(err)
	}
	keep := "bob-keeps-this-5e6f"
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: "r", UserID: "bob", Body: keep, Type: "text"})
	if _, _, err := s.Append(ctx, tripsense.NewMessage{Room: "r", UserID: "alice", Kind: tripsense.KindDelete, Target: m.Index}); err != nil {
		t.Fatal(err)
	}
	for _, e := range storetest.MustMessagesAfter(t, s, "r", 0, 10) {
		if bytes.Contains([]byte(e.Body), []byte("text")) && e.UserID == "alice" {
			t.Fatalf("entry %d still reads %q", e.Index, e.Body)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before compaction the file holds the original text: %v, the edit: %v (in freed pages)",
		bytes.Contains(data, []byte(original)), bytes.Contains(data, []byte(edited)))
	if _, _, _, err := bolt.Compact(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{original, edited} {
		if bytes.Contains(data, []byte(text)) {
			t.Fatalf("%q is still in the data file after compaction", text)
		}
	}
	if !bytes.Contains(data, []byte(keep)) {
		t.Fatalf("compaction lost a live message")
	}
	s = MustOpen(t, path, bolt.Options{})
	defer s.Close()
	if got := storetest.MustMessagesAfter(t, s, "r", 0, 10); len(got) != 4 || !got[0].Deleted || got[2].Body != keep {
		t.Fatalf("after compaction: %+v", got)
	}
}

package bolt_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// The store remembers yes answers of IsMember (memberCache). Once
// RemoveMember has returned, IsMember must say no, however many lookups
// of the same pair ran across the removal's commit.
func TestIsMemberSaysNoOnceRemoveMemberReturned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t, filepath.Join(t.TempDir(), "db"), bolt.Options{NoSync: true})
	t.Cleanup(func() { _ = s.Close() })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.IsMember(ctx, "u", "r"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for i := range 300 {
		storetest.MustAddMember(t, s, "r", "u")
		if !storetest.MustIsMember(t, s, "u", "r") {
			t.Fatalf("round %d: IsMember after AddMember = false", i)
		}
		storetest.MustRemoveMember(t, s, "r", "u")
		for range 3 {
			if storetest.MustIsMember(t, s, "u", "r") {
				t.Fatalf("round %d: IsMember after RemoveMember returned = true", i)
			}
		}
	}
}

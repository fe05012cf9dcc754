package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// MustOpen opens the store at path with opts and fails tb on error.
func MustOpen(tb testing.TB, path string, opts bolt.Options) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "tripsense.db")
		return func(t *testing.T) tripsense.Store { return MustOpen(t, path, bolt.Options{}) }
	})
}

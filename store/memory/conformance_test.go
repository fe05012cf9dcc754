package memory_test

import (
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/memory"
	"github.com/tripsense/tripsense/store/storetest"
)

func TestConformance(t *testing.T) {
	// The memory store cannot be reopened: every call of the opener returns
	// the same instance, and the reopen subtests are skipped.
	storetest.RunOptions{Reopen: false, Epoch: func(_ *testing.T, s tripsense.Store) string { return s.(*memory.Store).Epoch() }}.Run(t, func(t *testing.T) storetest.Opener {
		s := memory.New()
		return func(t *testing.T) tripsense.Store { return s }
	})
}

func TestRoomsAndOutbox(t *testing.T) {
	s := memory.New()
	s.Outbox = true
	storetest.RunRoomsAndOutbox(t, s, nil)
}

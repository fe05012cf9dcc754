// Package storetest is the behavioural suite every tripsense.Store passes:
// the in-memory store, the embedded durable store and the DynamoDB store
// (against an emulator). It checks the invariants of ports.go — gap-free
// per-room indexes under concurrent senders, idempotent Append, paging,
// forward-only clamped cursors, membership — and, for durable stores, that
// everything survives Close and reopen.
//
// A store's test calls Run (durable stores) or RunOptions{}.Run (stores
// that cannot reopen) with a factory of Openers:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Opener {
//			path := filepath.Join(t.TempDir(), "tripsense.db")
//			return func(t *testing.T) tripsense.Store {
//				s, err := bolt.Open(path, bolt.Options{})
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//		})
//	}
//
// The Must* helpers fail the test on error and are usable in any store test.
// This package imports testing and the root package only; it never imports
// a concrete store.
package storetest

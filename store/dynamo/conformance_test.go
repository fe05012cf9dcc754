package dynamo_test

import (
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/storetest"
)

// TestConformance runs the shared store suite against DynamoDB (dynalite):
// each subtest gets its own tables, and each Opener call builds a new Store
// over them, as a new Lambda process would.
func TestConformance(t *testing.T) {
	storetest.RunOptions{Reopen: true, NoRetention: true, Processes: 4}.Run(t, func(t *testing.T) storetest.Opener {
		tables := mustTables(t)
		return func(t *testing.T) tripsense.Store {
			return dynamo.New(sharedClient(), dynamo.Config{Tables: tables})
		}
	})
}

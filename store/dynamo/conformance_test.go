package dynamo_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/storetest"
)

// TestConformance runs the shared store suite against DynamoDB (dynalite):
// each subtest gets its own tables, and each Opener call builds a new Store
// over them, as a new Lambda process would. Retention is by TTL: dynalite
// has none, so sweepExpired deletes what TTL would.
func TestConformance(t *testing.T) {
	var tablesOf sync.Map // *dynamo.Store -> dynamo.Tables, for Restore
	storetest.RunOptions{
		Reopen: true, Processes: 4,
		Epoch: func(t *testing.T, s tripsense.Store) string {
			e, err := s.(*dynamo.Store).Epoch(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		// A point-in-time restore: new tables (new TableIds) holding the
		// items of the store's tables.
		Restore: func(t *testing.T, s tripsense.Store) storetest.Opener {
			from, ok := tablesOf.Load(s)
			if !ok {
				t.Fatal("restore of a store the opener did not make")
			}
			to := mustTables(t)
			for _, spec := range dynamo.TableSpecs() {
				copyTable(t, from.(dynamo.Tables).Name(spec.Base), to.Name(spec.Base))
			}
			return func(t *testing.T) tripsense.Store { return dynamo.New(sharedClient(), dynamo.Config{Tables: to}) }
		},
		OpenExpiring: func(t *testing.T, retention time.Duration, now func() time.Time) (tripsense.Store, func()) {
			tables := mustTables(t)
			s := dynamo.New(sharedClient(), dynamo.Config{Tables: tables, Retention: retention, Now: now})
			return s, func() { sweepExpired(t, tables.Messages, now()) }
		},
	}.Run(t, func(t *testing.T) storetest.Opener {
		tables := mustTables(t)
		return func(t *testing.T) tripsense.Store {
			s := dynamo.New(sharedClient(), dynamo.Config{Tables: tables})
			tablesOf.Store(s, tables)
			return s
		}
	})
}

// copyTable puts every item of table from into table to.
func copyTable(tb testing.TB, from, to string) {
	tb.Helper()
	ctx := testCtx(tb)
	var start map[string]types.AttributeValue
	for range 1000 {
		out, err := sharedClient().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(from), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start})
		if err != nil {
			tb.Fatalf("scan %s: %v", from, err)
		}
		for _, item := range out.Items {
			if _, err := sharedClient().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(to), Item: item}); err != nil {
				tb.Fatalf("put into %s: %v", to, err)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return
		}
		start = out.LastEvaluatedKey
	}
	tb.Fatalf("copy %s: more than 1000 pages", from)
}

// TestConformanceWithRetention runs the suite again on stores with a
// retention long enough that nothing expires: every entry carries
// keepUntil and, once it is not the newest, expiresAt (one more write per
// append, racing the lifecycle's conditional writes on the same items),
// and nothing the suite checks may change.
func TestConformanceWithRetention(t *testing.T) {
	storetest.RunOptions{Reopen: true, NoRetention: true, Processes: 4}.Run(t, func(t *testing.T) storetest.Opener {
		tables := mustTables(t)
		return func(t *testing.T) tripsense.Store {
			return dynamo.New(sharedClient(), dynamo.Config{Tables: tables, Retention: 10 * 365 * 24 * time.Hour})
		}
	})
}

// sweepExpired does what DynamoDB TTL does to table, at once instead of
// within days: it deletes every item whose expiresAt (epoch seconds) is
// before now. It returns how many it deleted.
func sweepExpired(tb testing.TB, table string, now time.Time) int {
	tb.Helper()
	ctx := testCtx(tb)
	var keys []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for range 1000 {
		out, err := sharedClient().Scan(ctx, &dynamodb.ScanInput{
			TableName:                 aws.String(table),
			FilterExpression:          aws.String("#e < :now"),
			ExpressionAttributeNames:  map[string]string{"#e": "expiresAt"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			tb.Fatalf("sweep %s: %v", table, err)
		}
		for _, item := range out.Items {
			keys = append(keys, map[string]types.AttributeValue{"room": item["room"], "index": item["index"]})
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	for _, k := range keys {
		if _, err := sharedClient().DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: k}); err != nil {
			tb.Fatalf("sweep %s: %v", table, err)
		}
	}
	return len(keys)
}

func TestRooms(t *testing.T) {
	t.Parallel()
	storetest.RunRooms(t, dynamo.New(sharedClient(), dynamo.Config{Tables: mustTables(t)}))
}

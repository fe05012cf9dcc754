package dynamo_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/storetest"
)

// TestEpochFollowsTheTableNotItsName: every process over one messages
// table computes the same epoch; when the table is deleted and a restored
// one is created under the same name (the in-place restore of
// docs/deploy.md), a new process sees a new epoch, although the name and
// the items are the same.
func TestEpochFollowsTheTableNotItsName(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tables := mustTables(t)
	a := dynamo.New(sharedClient(), dynamo.Config{Tables: tables})
	storetest.MustAppendNew(t, a, tripsense.NewMessage{Room: "r", UserID: "u", Body: "b", Type: "t"})
	e, err := a.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e2, err := dynamo.New(sharedClient(), dynamo.Config{Tables: tables}).Epoch(ctx); err != nil || e2 != e {
		t.Fatalf("another process over the same table: epoch %q %v, want %q", e2, err, e)
	}
	// Restore in place: the items saved, the table deleted, created again
	// under its name and filled with them.
	saved, err := sharedClient().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tables.Messages), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sharedClient().DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(tables.Messages)}); err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.NewTableNotExistsWaiter(sharedClient()).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tables.Messages)}, 30*time.Second,
		func(o *dynamodb.TableNotExistsWaiterOptions) {
			o.MinDelay = 10 * time.Millisecond
			o.MaxDelay = 100 * time.Millisecond
		}); err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTables(ctx, sharedClient(), tables); err != nil {
		t.Fatal(err)
	}
	for _, item := range saved.Items {
		if _, err := sharedClient().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.Messages), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	b := dynamo.New(sharedClient(), dynamo.Config{Tables: tables})
	if storetest.MustHead(t, b, "r") != 1 {
		t.Fatal("the restored table lost the message")
	}
	eb, err := b.Epoch(ctx)
	if err != nil || eb == e {
		t.Fatalf("epoch of the restored table %q %v, want a new one (was %q)", eb, err, e)
	}
	// A process that read the epoch before the restore keeps it until it
	// starts again: the procedure restarts every function.
	if again, _ := a.Epoch(ctx); again != e {
		t.Fatalf("cached epoch %q, want %q", again, e)
	}
}

func TestEpochOfAMissingTable(t *testing.T) {
	t.Parallel()
	s := dynamo.New(sharedClient(), dynamo.Config{Tables: dynamo.TablesWithPrefix("no-such-")})
	if _, err := s.Epoch(testCtx(t)); err == nil {
		t.Fatal("epoch of a missing table")
	}
}

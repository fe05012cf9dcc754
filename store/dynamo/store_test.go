package dynamo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/storetest"
)

// TestStoreQueriesFollowPages runs the reads over a client whose Query
// pages hold two items, as DynamoDB's 1 MB pages would with big items.
func TestStoreQueriesFollowPages(t *testing.T) {
	t.Parallel()
	tables := mustTables(t)
	s := newStore(pagedAPI{sharedClient()}, tables)
	sent := storetest.MustAppendN(t, s, "r", "u1", 9)
	for _, tc := range []struct {
		name string
		got  []tripsense.Message
		from int64
		n    int
	}{
		{"MessagesAfter(0, 100)", storetest.MustMessagesAfter(t, s, "r", 0, 100), 1, 9},
		{"MessagesAfter(2, 5)", storetest.MustMessagesAfter(t, s, "r", 2, 5), 3, 5},
		{"MessagesBefore(9, 7)", storetest.MustMessagesBefore(t, s, "r", 9, 7), 2, 7},
		{"MessagesBefore(100, 3)", storetest.MustMessagesBefore(t, s, "r", 100, 3), 7, 3},
	} {
		if len(tc.got) != tc.n {
			t.Fatalf("%s: %d messages, want %d", tc.name, len(tc.got), tc.n)
		}
		for i, m := range tc.got {
			if want := sent[tc.from-1+int64(i)]; !storetest.SameMessage(m, want) {
				t.Fatalf("%s[%d] = %+v, want %+v", tc.name, i, m, want)
			}
		}
	}
	for _, r := range []string{"a", "b", "c", "d", "e"} {
		storetest.MustAddMember(t, s, r, "u1")
		storetest.MustAdvanceCursor(t, s, "u1", "", "r", 1)
		storetest.MustAddMember(t, s, "a", "u"+r)
	}
	if rooms := storetest.MustRooms(t, s, "u1"); len(rooms) != 5 {
		t.Fatalf("Rooms = %v", rooms)
	}
	if users := storetest.MustMembers(t, s, "a"); len(users) != 6 {
		t.Fatalf("Members = %v", users)
	}
}

// TestSDKErrorsAreMapped checks the error kinds at the store boundary.
func TestSDKErrorsAreMapped(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	missing := dynamo.New(sharedClient(), dynamo.Config{Tables: dynamo.TablesWithPrefix("no-such-prefix-")})
	_, err := missing.Head(ctx, "r")
	var rnf *types.ResourceNotFoundException
	if tripsense.ErrorCode(err) != tripsense.EINTERNAL || !errors.As(err, &rnf) {
		t.Fatalf("missing table: %v, want EINTERNAL wrapping ResourceNotFoundException", err)
	}
	if msg := tripsense.ErrorMessage(err); msg != "internal error" {
		t.Fatalf("user-facing message %q leaks details", msg)
	}

	throttled := newStore(throttleAPI{sharedClient()}, mustTables(t))
	if _, err := throttled.IsMember(ctx, "u", "r"); tripsense.ErrorCode(err) != tripsense.ERATELIMITED {
		t.Fatalf("throttled: %v, want ERATELIMITED", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := newStore(sharedClient(), mustTables(t)).Head(cancelled, "r"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled in the chain", err)
	}
}

type throttleAPI struct{ dynamo.API }

func (throttleAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
}

// TestTableSpecs checks the single schema definition against what
// dynalite created from it.
func TestTableSpecs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tables := mustTables(t)
	if err := dynamo.CreateTables(ctx, sharedClient(), tables); err != nil {
		t.Fatalf("CreateTables on existing tables: %v", err)
	}
	seen := map[string]bool{}
	for _, spec := range dynamo.TableSpecs() {
		name := tables.Name(spec.Base)
		if name == "" || seen[name] {
			t.Fatalf("spec %q: name %q empty or repeated", spec.Base, name)
		}
		seen[name] = true
		out, err := sharedClient().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		ks := out.Table.KeySchema
		if *ks[0].AttributeName != spec.Hash.Name || (spec.Range.Name != "" && (len(ks) != 2 || *ks[1].AttributeName != spec.Range.Name)) {
			t.Errorf("%s: key schema %+v, want %+v / %+v", name, ks, spec.Hash, spec.Range)
		}
		if len(out.Table.GlobalSecondaryIndexes) != len(spec.Indexes) {
			t.Errorf("%s: %d indexes, want %d", name, len(out.Table.GlobalSecondaryIndexes), len(spec.Indexes))
		}
		if out.Table.BillingModeSummary != nil && out.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("%s: billing %v", name, out.Table.BillingModeSummary.BillingMode)
		}
	}
	if len(seen) != 9 {
		t.Fatalf("%d tables, want 9", len(seen))
	}
	if err := (dynamo.Config{}).Validate(); err == nil {
		t.Fatal("Validate accepted a config without table names")
	}
	if err := (dynamo.Config{Tables: dynamo.TablesWithPrefix("tripsense-dev-")}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// staleReplicaAPI answers every eventually consistent Query as a replica
// that has not seen any message yet.
type staleReplicaAPI struct{ dynamo.API }

func (s staleReplicaAPI) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if in.ConsistentRead == nil || !*in.ConsistentRead {
		return &dynamodb.QueryOutput{}, nil
	}
	return s.API.Query(ctx, in, o...)
}

// TestAdvanceCursorStaleHead: the clamp reads the head eventually
// consistently; a stale (lower) head never clamps a cursor below what the
// client asked for when the true head allows it.
func TestAdvanceCursorStaleHead(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := dynamo.Config{Tables: mustTables(t)}
	storetest.MustAppendN(t, dynamo.New(sharedClient(), cfg), "r", "u2", 10)
	s := dynamo.New(staleReplicaAPI{sharedClient()}, cfg)
	for _, c := range []struct{ ask, want int64 }{{5, 5}, {50, 10}, {0, 10}} {
		got, err := s.AdvanceCursor(ctx, "u1", "", "r", c.ask)
		if err != nil || got.LastSeen != c.want {
			t.Fatalf("AdvanceCursor(%d) = %+v, %v; want %d", c.ask, got, err, c.want)
		}
	}
}

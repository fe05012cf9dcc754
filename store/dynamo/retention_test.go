package dynamo_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/storetest"
)

// retentionAttrs reads keepUntil (Unix ms) and expiresAt (Unix s, 0 when
// absent) of the entry at index.
func retentionAttrs(t *testing.T, table, room string, index int64) (keep, exp int64) {
	t.Helper()
	out, err := sharedClient().GetItem(testCtx(t), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"room": &types.AttributeValueMemberS{Value: room}, "index": &types.AttributeValueMemberN{Value: strconv.FormatInt(index, 10)}},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("entry %d: %v", index, err)
	}
	n := func(name string) int64 {
		v, ok := out.Item[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0
		}
		x, _ := strconv.ParseInt(v.Value, 10, 64)
		return x
	}
	return n("keepUntil"), n("expiresAt")
}

// TestRetentionAttributes: every entry gets keepUntil = createTime +
// retention, never below its predecessor's (an entry stamped earlier by a
// skewed clock keeps the suffix property); only the newest entry lacks
// expiresAt, which is the first second after keepUntil; events that
// rewrite a message (edit, reaction, delete) keep both attributes.
func TestRetentionAttributes(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tables := mustTables(t)
	const retention = time.Hour
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s := dynamo.New(sharedClient(), dynamo.Config{Tables: tables, Retention: retention, Now: func() time.Time { return t0 }})
	const room = "r"
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "u1", Body: "a", Type: "text", CreateTime: t0})
	// Stamped a second earlier than its predecessor: its keepUntil is the predecessor's.
	storetest.MustAppendNew(t, s, tripsense.NewMessage{Room: room, UserID: "u1", Body: "b", Type: "text", ClientMsgID: "b", CreateTime: t0.Add(-time.Second)})
	k1, e1 := retentionAttrs(t, tables.Messages, room, 1)
	k2, e2 := retentionAttrs(t, tables.Messages, room, 2)
	if want := t0.Add(retention).UnixMilli(); k1 != want || k2 != want {
		t.Fatalf("keepUntil %d, %d; want both %d", k1, k2, want)
	}
	if e1 != k1/1000+1 || e2 != 0 {
		t.Fatalf("expiresAt %d, %d; want %d and none on the newest", e1, e2, k1/1000+1)
	}
	// Events on message 1 (not the newest) and on message 2 (the newest
	// until the event is appended) rewrite them; the attributes stay.
	for _, nm := range []tripsense.NewMessage{
		{Room: room, UserID: "u1", Kind: tripsense.KindEdit, Target: 1, Body: "a2", CreateTime: t0},
		{Room: room, UserID: "u1", Kind: tripsense.KindReaction, Target: 2, Reaction: "👍", CreateTime: t0},
		{Room: room, UserID: "u1", Kind: tripsense.KindDelete, Target: 1, CreateTime: t0},
	} {
		if _, _, err := s.Append(ctx, nm); err != nil {
			t.Fatalf("%s: %v", nm.Kind, err)
		}
	}
	for i := int64(1); i <= 4; i++ {
		if k, e := retentionAttrs(t, tables.Messages, room, i); k != k1 || e != k1/1000+1 {
			t.Fatalf("entry %d: keepUntil %d expiresAt %d, want %d and %d", i, k, e, k1, k1/1000+1)
		}
	}
	if k, e := retentionAttrs(t, tables.Messages, room, 5); k != k1 || e != 0 {
		t.Fatalf("newest entry: keepUntil %d expiresAt %d, want %d and none", k, e, k1)
	}
}

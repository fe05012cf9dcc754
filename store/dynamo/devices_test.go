package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/storetest"
)

// TestCursorItemsWrittenBeforeDevicesAreTheDefaultDevices: the readCursors
// table keeps its key schema; an item written before devices existed
// (userId = the user) is the default device's cursor, and a named device's
// cursor is an item of its own that leaves it alone.
func TestCursorItemsWrittenBeforeDevicesAreTheDefaultDevices(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tables := mustTables(t)
	s := newStore(sharedClient(), tables)
	storetest.MustAppendN(t, s, "r", "u9", 10)
	_, err := sharedClient().PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(tables.ReadCursors),
		Item: map[string]types.AttributeValue{
			"userId": &types.AttributeValueMemberS{Value: "u1"}, "room": &types.AttributeValueMemberS{Value: "r"},
			"lastSeen": &types.AttributeValueMemberN{Value: "6"}, "updatedAt": &types.AttributeValueMemberS{Value: "2026-01-02T03:04:05.000Z"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := storetest.MustCursor(t, s, "u1", tripsense.DefaultDevice, "r"); c.LastSeen != 6 || c.DeviceID != "" {
		t.Fatalf("old item read as the default device's cursor = %+v, want 6", c)
	}
	if c := storetest.MustCursor(t, s, "u1", "phone", "r"); c.LastSeen != 0 {
		t.Fatalf("a named device inherited the old item: %+v", c)
	}
	if c := storetest.MustAdvanceCursor(t, s, "u1", "phone", "r", 9); c.LastSeen != 9 || c.DeviceID != "phone" || c.UserID != "u1" {
		t.Fatalf("AdvanceCursor(phone) = %+v, want u1/phone at 9", c)
	}
	if cs := storetest.MustCursors(t, s, "u1", tripsense.DefaultDevice); len(cs) != 1 || cs[0].LastSeen != 6 {
		t.Fatalf("default device after the phone's advance = %+v, want [r:6]", cs)
	}
	out, err := sharedClient().GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(tables.ReadCursors), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"userId": &types.AttributeValueMemberS{Value: "u1#phone"}, "room": &types.AttributeValueMemberS{Value: "r"}},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("phone's item under u1#phone: %v %v", out, err)
	}
	if d, _ := out.Item["deviceId"].(*types.AttributeValueMemberS); d == nil || d.Value != "phone" {
		t.Fatalf("phone's item has deviceId %v, want phone", out.Item["deviceId"])
	}
}

// TestPresenceKeepsDevices: the device of a connection survives Register,
// Get, UserConnections (what the admission sees) and Unregister.
func TestPresenceKeepsDevices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	p := newPresence(t, sharedClient(), clk)
	phone, tablet, plain := conn("c-phone", "u1", clk), conn("c-tablet", "u1", clk), conn("c-plain", "u1", clk)
	phone.DeviceID, tablet.DeviceID = "phone", "tablet"
	mustRegister(t, p, phone, []string{"r"}, nil)
	clk.Add(time.Millisecond)
	mustRegister(t, p, plain, []string{"r"}, nil)
	clk.Add(time.Millisecond)
	var seen []tripsense.Connection
	if _, err := p.Register(ctx, tablet, []string{"r"}, nil, func(existing []tripsense.Connection) ([]string, error) {
		seen = existing
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].ID != "c-phone" || seen[0].DeviceID != "phone" || seen[1].ID != "c-plain" || seen[1].DeviceID != "" {
		t.Fatalf("admission saw %+v, want c-phone (phone), c-plain (default)", seen)
	}
	for id, want := range map[string]string{"c-phone": "phone", "c-tablet": "tablet", "c-plain": ""} {
		c, err := p.Get(ctx, id)
		if err != nil || c.DeviceID != want || c.UserID != "u1" {
			t.Errorf("Get(%s) = %+v, %v; want device %q", id, c, err, want)
		}
	}
	conns, err := p.UserConnections(ctx, "u1")
	if err != nil || len(conns) != 3 {
		t.Fatalf("UserConnections = %+v, %v", conns, err)
	}
	for _, c := range conns {
		if want := map[string]string{"c-phone": "phone", "c-tablet": "tablet", "c-plain": ""}[c.ID]; c.DeviceID != want {
			t.Errorf("UserConnections: %s has device %q, want %q", c.ID, c.DeviceID, want)
		}
	}
	if c, _ := mustUnregister(t, p, "c-tablet"); c.DeviceID != "tablet" {
		t.Fatalf("Unregister returned %+v, want device tablet", c)
	}
}

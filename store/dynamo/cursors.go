package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

// The readCursors table keeps its key schema (userId, room) across the
// introduction of devices: the partition key holds
// tripsense.DeviceKey(user, device), which is the user id itself for the
// default device, so every item written before devices existed is the
// default device's cursor, and "user#device" for a named device. An item
// of a named device also carries deviceId (for people reading the table).

// cursorKey is the key of the cursor item of (user, device, room).
func cursorKey(user, device, room string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUserID: avS(tripsense.DeviceKey(user, device)), attrRoom: avS(room)}
}

// Cursor returns the cursor of (user, device, room); LastSeen 0 and a zero
// UpdatedAt if none was written. One strongly consistent GetItem.
func (s *Store) Cursor(ctx context.Context, user, device, room string) (tripsense.Cursor, error) {
	c, err := s.cursor(ctx, user, device, room)
	return c, mapErr("cursor", err)
}

func (s *Store) cursor(ctx context.Context, user, device, room string) (tripsense.Cursor, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.t.ReadCursors),
		Key:            cursorKey(user, device, room),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return tripsense.Cursor{}, err
	}
	if out.Item == nil {
		return tripsense.Cursor{UserID: user, DeviceID: device, Room: room}, nil
	}
	return decodeCursor(user, device, out.Item), nil
}

func decodeCursor(user, device string, item map[string]types.AttributeValue) tripsense.Cursor {
	return tripsense.Cursor{
		UserID:    user,
		DeviceID:  device,
		Room:      getS(item, attrRoom),
		LastSeen:  getN(item, attrLastSeen),
		UpdatedAt: getTime(item, attrUpdatedAt),
	}
}

// Cursors returns every stored cursor of (user, device), sorted by room: a
// strongly consistent Query on the partition of its device key (other
// devices' cursors are other partitions, never read).
func (s *Store) Cursors(ctx context.Context, user, device string) ([]tripsense.Cursor, error) {
	out := []tripsense.Cursor{}
	err := queryAll(ctx, s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.ReadCursors),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  names("#u", attrUserID),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": avS(tripsense.DeviceKey(user, device))},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) {
		out = append(out, decodeCursor(user, device, item))
	})
	if err != nil {
		return nil, mapErr("cursors", err)
	}
	return out, nil
}

// AdvanceCursor sets the cursor of (user, device, room) to
// max(current, min(lastSeen, head(room))) and returns the result.
//
// It reads the head, then writes with the condition
// "attribute_not_exists(lastSeen) OR lastSeen < :n": concurrent advances
// from many processes can only move the cursor forward, and the clamp holds
// because the head never shrinks. The head is read eventually consistently
// (half the read units of the room's newest message) and strongly only when
// that answer is below lastSeen (see headAtLeast): a stale head is lower,
// and would only clamp lower. When the condition fails (the cursor is
// already there or past it) it returns the stored cursor: the one the
// failed write returned in AWS, or one GetItem. The first call creates the
// cursor; UpdatedAt changes only when LastSeen does.
func (s *Store) AdvanceCursor(ctx context.Context, user, device, room string, lastSeen int64) (tripsense.Cursor, error) {
	head, err := s.headAtLeast(ctx, room, lastSeen)
	if err != nil {
		return tripsense.Cursor{}, mapErr("advance cursor", err)
	}
	target := max(min(lastSeen, head), 0)
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.t.ReadCursors),
		Key:                      cursorKey(user, device, room),
		UpdateExpression:         aws.String("SET #ls = :n, #ua = :now"),
		ConditionExpression:      aws.String("attribute_not_exists(#ls) OR #ls < :n"),
		ExpressionAttributeNames: names("#ls", attrLastSeen, "#ua", attrUpdatedAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": avN(target), ":now": avTime(s.cfg.Now()),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if device != tripsense.DefaultDevice {
		in.UpdateExpression = aws.String("SET #ls = :n, #ua = :now, #d = :d")
		in.ExpressionAttributeNames["#d"] = attrDeviceID
		in.ExpressionAttributeValues[":d"] = avS(device)
	}
	out, err := s.db.UpdateItem(ctx, in)
	if err == nil {
		return decodeCursor(user, device, out.Attributes), nil
	}
	if !isConditionFailed(err) {
		return tripsense.Cursor{}, mapErr("advance cursor", err)
	}
	if item := failedItem(err); item != nil {
		return decodeCursor(user, device, item), nil
	}
	c, err := s.cursor(ctx, user, device, room)
	return c, mapErr("advance cursor", err)
}

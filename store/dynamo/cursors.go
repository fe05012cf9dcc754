package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

// Cursor returns the cursor of (user, room); LastSeen 0 and a zero UpdatedAt
// if none was written. One strongly consistent GetItem.
func (s *Store) Cursor(ctx context.Context, user, room string) (tripsense.Cursor, error) {
	c, err := s.cursor(ctx, user, room)
	return c, mapErr("cursor", err)
}

func (s *Store) cursor(ctx context.Context, user, room string) (tripsense.Cursor, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.t.ReadCursors),
		Key:            map[string]types.AttributeValue{attrUserID: avS(user), attrRoom: avS(room)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return tripsense.Cursor{}, err
	}
	if out.Item == nil {
		return tripsense.Cursor{UserID: user, Room: room}, nil
	}
	return decodeCursor(out.Item), nil
}

func decodeCursor(item map[string]types.AttributeValue) tripsense.Cursor {
	return tripsense.Cursor{
		UserID:    getS(item, attrUserID),
		Room:      getS(item, attrRoom),
		LastSeen:  getN(item, attrLastSeen),
		UpdatedAt: getTime(item, attrUpdatedAt),
	}
}

// Cursors returns every stored cursor of user, sorted by room: a strongly
// consistent Query on readCursors.
func (s *Store) Cursors(ctx context.Context, user string) ([]tripsense.Cursor, error) {
	out := []tripsense.Cursor{}
	err := queryAll(ctx, s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.ReadCursors),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  names("#u", attrUserID),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": avS(user)},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) {
		out = append(out, decodeCursor(item))
	})
	if err != nil {
		return nil, mapErr("cursors", err)
	}
	return out, nil
}

// AdvanceCursor sets the cursor of (user, room) to
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
func (s *Store) AdvanceCursor(ctx context.Context, user, room string, lastSeen int64) (tripsense.Cursor, error) {
	head, err := s.headAtLeast(ctx, room, lastSeen)
	if err != nil {
		return tripsense.Cursor{}, mapErr("advance cursor", err)
	}
	target := max(min(lastSeen, head), 0)
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.t.ReadCursors),
		Key:                      map[string]types.AttributeValue{attrUserID: avS(user), attrRoom: avS(room)},
		UpdateExpression:         aws.String("SET #ls = :n, #ua = :now"),
		ConditionExpression:      aws.String("attribute_not_exists(#ls) OR #ls < :n"),
		ExpressionAttributeNames: names("#ls", attrLastSeen, "#ua", attrUpdatedAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": avN(target), ":now": avTime(s.cfg.Now()),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return decodeCursor(out.Attributes), nil
	}
	if !isConditionFailed(err) {
		return tripsense.Cursor{}, mapErr("advance cursor", err)
	}
	if item := failedItem(err); item != nil {
		return decodeCursor(item), nil
	}
	c, err := s.cursor(ctx, user, room)
	return c, mapErr("advance cursor", err)
}

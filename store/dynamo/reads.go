package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

// Read cursors live in the readReceipts table, keyed (userId, room) like the
// delivered cursors of readCursors, with lastRead and updatedAt; its byRoom
// index (room, userId, projecting both) serves Receipts.

// ReadCursor returns the read cursor of (user, room); LastRead 0 and a zero
// UpdatedAt if none was written. One strongly consistent GetItem.
func (s *Store) ReadCursor(ctx context.Context, user, room string) (tripsense.ReadCursor, error) {
	c, err := s.readCursor(ctx, user, room)
	return c, mapErr("read cursor", err)
}

func (s *Store) readCursor(ctx context.Context, user, room string) (tripsense.ReadCursor, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.t.ReadReceipts),
		Key:            map[string]types.AttributeValue{attrUserID: avS(user), attrRoom: avS(room)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return tripsense.ReadCursor{}, err
	}
	if out.Item == nil {
		return tripsense.ReadCursor{UserID: user, Room: room}, nil
	}
	return decodeReadCursor(out.Item), nil
}

func decodeReadCursor(item map[string]types.AttributeValue) tripsense.ReadCursor {
	return tripsense.ReadCursor{
		UserID:    getS(item, attrUserID),
		Room:      getS(item, attrRoom),
		LastRead:  getN(item, attrLastRead),
		UpdatedAt: getTime(item, attrUpdatedAt),
	}
}

// ReadCursors returns every stored read cursor of user, sorted by room: a
// strongly consistent Query on readReceipts.
func (s *Store) ReadCursors(ctx context.Context, user string) ([]tripsense.ReadCursor, error) {
	out := []tripsense.ReadCursor{}
	err := queryAll(ctx, s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.ReadReceipts),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  names("#u", attrUserID),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": avS(user)},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) {
		out = append(out, decodeReadCursor(item))
	})
	if err != nil {
		return nil, mapErr("read cursors", err)
	}
	return out, nil
}

// Receipts returns every stored read cursor of room, sorted by user: a
// Query on the byRoom index of readReceipts. A global secondary index is
// eventually consistent, so a cursor moved a moment ago may show its older
// value for a short while; receipts are for display, never authorization.
func (s *Store) Receipts(ctx context.Context, room string) ([]tripsense.ReadCursor, error) {
	out := []tripsense.ReadCursor{}
	err := queryAll(ctx, s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.ReadReceipts),
		IndexName:                 aws.String(IndexReceiptsByRoom),
		KeyConditionExpression:    aws.String("#r = :r"),
		ExpressionAttributeNames:  names("#r", attrRoom),
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": avS(room)},
	}, func(item map[string]types.AttributeValue) {
		out = append(out, decodeReadCursor(item))
	})
	if err != nil {
		return nil, mapErr("receipts", err)
	}
	return out, nil
}

// AdvanceReadCursor sets the read cursor of (user, room) to
// max(current, min(lastRead, head(room))) and returns it and whether it
// moved: like AdvanceCursor, a head read and one UpdateItem with the
// condition "attribute_not_exists(lastRead) OR lastRead < :n", so
// concurrent advances from many processes only move it forward.
func (s *Store) AdvanceReadCursor(ctx context.Context, user, room string, lastRead int64) (tripsense.ReadCursor, bool, error) {
	head, err := s.head(ctx, room)
	if err != nil {
		return tripsense.ReadCursor{}, false, mapErr("advance read cursor", err)
	}
	target := max(min(lastRead, head), 0)
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.t.ReadReceipts),
		Key:                      map[string]types.AttributeValue{attrUserID: avS(user), attrRoom: avS(room)},
		UpdateExpression:         aws.String("SET #lr = :n, #ua = :now"),
		ConditionExpression:      aws.String("attribute_not_exists(#lr) OR #lr < :n"),
		ExpressionAttributeNames: names("#lr", attrLastRead, "#ua", attrUpdatedAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": avN(target), ":now": avTime(s.cfg.Now()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err == nil {
		// The write happened: the cursor was absent (0) or below target.
		return decodeReadCursor(out.Attributes), target > 0, nil
	}
	if !isConditionFailed(err) {
		return tripsense.ReadCursor{}, false, mapErr("advance read cursor", err)
	}
	c, err := s.readCursor(ctx, user, room)
	return c, false, mapErr("advance read cursor", err)
}

package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// IsMember reports whether user is a member of room: one strongly
// consistent GetItem on userRoom.
func (s *Store) IsMember(ctx context.Context, user, room string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.t.UserRoom),
		Key:                      map[string]types.AttributeValue{attrUserID: avS(user), attrRoom: avS(room)},
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#r"),
		ExpressionAttributeNames: names("#r", attrRoom),
	})
	if err != nil {
		return false, mapErr("is member", err)
	}
	return out.Item != nil, nil
}

// Rooms returns the rooms of user, sorted: a strongly consistent Query on
// userRoom (DynamoDB sorts the sort key by UTF-8 bytes, as Go sorts strings).
func (s *Store) Rooms(ctx context.Context, user string) ([]string, error) {
	rooms, err := s.queryStrings(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.UserRoom),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  names("#u", attrUserID, "#r", attrRoom),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": avS(user)},
		ProjectionExpression:      aws.String("#r"),
		ConsistentRead:            aws.Bool(true),
	}, attrRoom)
	return rooms, mapErr("rooms", err)
}

// Members returns the members of room, sorted: a Query on the userRoom
// byRoom index. In AWS a global secondary index is eventually consistent,
// so a member added a moment ago may be missing for a short while; the
// authority for "may this user send/read" is IsMember, which is consistent.
func (s *Store) Members(ctx context.Context, room string) ([]string, error) {
	users, err := s.queryStrings(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.UserRoom),
		IndexName:                 aws.String(IndexUserRoomByRoom),
		KeyConditionExpression:    aws.String("#r = :r"),
		ExpressionAttributeNames:  names("#r", attrRoom),
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": avS(room)},
	}, attrUserID)
	return users, mapErr("members", err)
}

// AddMember adds user to room. Adding an existing member is not an error and
// keeps the original joinedAt.
func (s *Store) AddMember(ctx context.Context, room, user string) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.t.UserRoom),
		Item: map[string]types.AttributeValue{
			attrUserID:   avS(user),
			attrRoom:     avS(room),
			attrJoinedAt: avTime(s.cfg.Now()),
		},
		ConditionExpression:      aws.String("attribute_not_exists(#r)"),
		ExpressionAttributeNames: names("#r", attrRoom),
	})
	if isConditionFailed(err) {
		return nil
	}
	return mapErr("add member", err)
}

// RemoveMember removes user from room. Removing a non-member is not an error.
func (s *Store) RemoveMember(ctx context.Context, room, user string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.t.UserRoom),
		Key:       map[string]types.AttributeValue{attrUserID: avS(user), attrRoom: avS(room)},
	})
	return mapErr("remove member", err)
}

// queryStrings runs in to the end and collects the string attribute attr of
// every item, in key order.
func (s *Store) queryStrings(ctx context.Context, in *dynamodb.QueryInput, attr string) ([]string, error) {
	out := []string{}
	err := queryAll(ctx, s.db, in, func(item map[string]types.AttributeValue) {
		out = append(out, getS(item, attr))
	})
	return out, err
}

// queryAll runs in and follows LastEvaluatedKey to the end, calling fn for
// every item. It sets in.ExclusiveStartKey.
func queryAll(ctx context.Context, db API, in *dynamodb.QueryInput, fn func(map[string]types.AttributeValue)) error {
	for {
		page, err := db.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			fn(item)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

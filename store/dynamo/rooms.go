package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

var _ tripsense.RoomStore = (*Store)(nil)

// Room metadata lives in the messageDedupe table, one item per room under
// the sort key roomInfoSender, which no dedupe record can have (theirs are
// "user#clientMsgId" with a non-empty user), and without expiresAt, so its
// TTL never removes it: no extra table, one GetItem per read, and the
// functions that append (ws, api) already hold the table's permissions.
const roomInfoSender = "#room"

const (
	attrName      = "name"
	attrCreatedBy = "createdBy"
	// attrOwner is set once ownership passed from the creator (SetOwner).
	attrOwner = "owner"
)

func roomInfoKey(room string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrRoom: avS(room), attrSender: avS(roomInfoSender)}
}

// CreateRoom records r with a conditional PutItem (ECONFLICT when the room
// has metadata), after checking that it has no members and no entries
// (those two reads are not atomic with the put: a room the admin CLI fills
// at the same moment can get metadata too).
func (s *Store) CreateRoom(ctx context.Context, r tripsense.RoomInfo) error {
	head, err := s.head(ctx, r.ID)
	if err != nil {
		return mapErr("create room", err)
	}
	members, err := s.Members(ctx, r.ID)
	if err != nil {
		return err
	}
	if head > 0 || len(members) > 0 {
		return tripsense.Errorf(tripsense.ECONFLICT, "room %s exists", r.ID)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.cfg.Now()
	}
	item := roomInfoKey(r.ID)
	item[attrName] = avS(r.Name)
	item[attrCreatedBy] = avS(r.CreatedBy)
	item[attrCreateTime] = avTime(r.CreatedAt)
	if r.Owner != "" && r.Owner != r.CreatedBy {
		item[attrOwner] = avS(r.Owner)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.t.Dedupe),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#s)"),
		ExpressionAttributeNames: names("#s", attrSender),
	})
	if isConditionFailed(err) {
		return tripsense.Errorf(tripsense.ECONFLICT, "room %s exists", r.ID)
	}
	return mapErr("create room", err)
}

// Room reads the metadata of room (strongly consistent), ENOTFOUND without.
func (s *Store) Room(ctx context.Context, room string) (tripsense.RoomInfo, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.t.Dedupe), Key: roomInfoKey(room), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return tripsense.RoomInfo{}, mapErr("room", err)
	}
	if out.Item == nil {
		return tripsense.RoomInfo{}, tripsense.Errorf(tripsense.ENOTFOUND, "room %s has no metadata", room)
	}
	r := tripsense.RoomInfo{ID: room, Name: getS(out.Item, attrName), CreatedBy: getS(out.Item, attrCreatedBy), CreatedAt: getTime(out.Item, attrCreateTime), Owner: getS(out.Item, attrOwner)}
	if r.Owner == "" {
		r.Owner = r.CreatedBy
	}
	return r, nil
}

// RenameRoom sets the name of room (ENOTFOUND without metadata).
func (s *Store) RenameRoom(ctx context.Context, room, name string) error {
	return s.setRoomAttr(ctx, "rename room", room, attrName, name)
}

// SetOwner makes to the owner of room if from still is: a conditional
// UpdateItem, so that Lambdas deciding from the same owner cannot both
// hand the room on (the owner is createdBy until the owner attribute is
// set). ENOTFOUND without metadata, ErrOwnerChanged otherwise.
func (s *Store) SetOwner(ctx context.Context, room, from, to string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.t.Dedupe),
		Key:                       roomInfoKey(room),
		UpdateExpression:          aws.String("SET #o = :to"),
		ConditionExpression:       aws.String("attribute_exists(#s) AND (#o = :from OR (attribute_not_exists(#o) AND #c = :from))"),
		ExpressionAttributeNames:  names("#o", attrOwner, "#s", attrSender, "#c", attrCreatedBy),
		ExpressionAttributeValues: map[string]types.AttributeValue{":to": avS(to), ":from": avS(from)},
	})
	if isConditionFailed(err) {
		if _, rerr := s.Room(ctx, room); rerr != nil {
			return rerr // ENOTFOUND: no metadata
		}
		return tripsense.ErrOwnerChanged(room)
	}
	return mapErr("set room owner", err)
}

// setRoomAttr sets the string attribute attr of room's metadata item, with
// a condition that the item exists (ENOTFOUND otherwise).
func (s *Store) setRoomAttr(ctx context.Context, opName, room, attr, value string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.t.Dedupe),
		Key:                       roomInfoKey(room),
		UpdateExpression:          aws.String("SET #a = :v"),
		ConditionExpression:       aws.String("attribute_exists(#s)"),
		ExpressionAttributeNames:  names("#a", attr, "#s", attrSender),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": avS(value)},
	})
	if isConditionFailed(err) {
		return tripsense.Errorf(tripsense.ENOTFOUND, "room %s has no metadata", room)
	}
	return mapErr(opName, err)
}

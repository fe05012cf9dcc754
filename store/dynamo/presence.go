package dynamo

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

var _ tripsense.Presence = (*Presence)(nil)

// Presence is a tripsense.Presence over the connections and roomConnections
// tables, for the Lambda runtime where no process outlives a request.
//
// A connection item holds userId, connectedAt, expiresAt (epoch seconds,
// the TTL attribute) and wm, a map from each room the connection receives
// to its delivery watermark. roomConnections holds one item per (room,
// connection) so that fan-out is one Query per message. Both carry
// expiresAt: DynamoDB's TTL deletes them some time after it passes, and
// until then every read here ignores expired items itself.
//
// Safe for concurrent use, also by many processes over the same tables.
type Presence struct {
	db  API
	t   Tables
	cfg Config
}

// NewPresence returns a Presence that uses client for every call.
func NewPresence(client API, cfg Config) *Presence {
	cfg = cfg.withDefaults()
	return &Presence{db: client, t: cfg.Tables, cfg: cfg}
}

// Register records conn as online and receiving rooms, each with the
// watermark baseline[room] (0 when absent): one PutItem on connections,
// then the roomConnections items in batches of 25. The connection item is
// written first, so a crash in between leaves a connection that Unregister
// cleans up completely. A zero ConnectedAt is set to now, a zero ExpiresAt
// to ConnectedAt+tripsense.ConnectionTTL (expiresAt is kept in seconds).
// Registering a live connection id again is ECONFLICT.
func (p *Presence) Register(ctx context.Context, conn tripsense.Connection, rooms []string, baseline map[string]int64) error {
	if conn.ID == "" || conn.UserID == "" {
		return tripsense.Errorf(tripsense.EINVALID, "connection id and user are required")
	}
	now := p.cfg.Now()
	if conn.ConnectedAt.IsZero() {
		conn.ConnectedAt = now
	}
	if conn.ExpiresAt.IsZero() {
		conn.ExpiresAt = conn.ConnectedAt.Add(tripsense.ConnectionTTL)
	}
	wm := make(map[string]types.AttributeValue, len(rooms))
	for _, r := range rooms {
		wm[r] = avN(baseline[r])
	}
	_, err := p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(p.t.Connections),
		Item: map[string]types.AttributeValue{
			attrConnID:      avS(conn.ID),
			attrUserID:      avS(conn.UserID),
			attrConnectedAt: avTime(conn.ConnectedAt),
			attrExpiresAt:   avN(conn.ExpiresAt.Unix()),
			attrWatermarks:  &types.AttributeValueMemberM{Value: wm},
		},
		ConditionExpression:       aws.String("attribute_not_exists(#c) OR #e < :now"),
		ExpressionAttributeNames:  names("#c", attrConnID, "#e", attrExpiresAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(now.Unix())},
	})
	if isConditionFailed(err) {
		return tripsense.Wrap(tripsense.ECONFLICT, err, "connection "+conn.ID+" is already registered")
	}
	if err != nil {
		return mapErr("register", err)
	}
	reqs := make([]types.WriteRequest, 0, len(wm))
	for r := range wm {
		reqs = append(reqs, p.roomConnPut(r, conn.ID, conn.UserID, conn.ExpiresAt))
	}
	return mapErr("register", p.writeBatch(ctx, reqs))
}

func (p *Presence) roomConnPut(room, connID, user string, expires time.Time) types.WriteRequest {
	return types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
		attrRoom:      avS(room),
		attrConnID:    avS(connID),
		attrUserID:    avS(user),
		attrExpiresAt: avN(expires.Unix()),
	}}}
}

func roomConnDelete(room, connID string) types.WriteRequest {
	return types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{
		attrRoom: avS(room), attrConnID: avS(connID),
	}}}
}

// Unregister deletes the connection (one DeleteItem returning the old item)
// and then its roomConnections items, and returns its watermarks. It returns
// ErrNotFound when the connection is unknown. Concurrent calls for one
// connection return it to exactly one caller.
func (p *Presence) Unregister(ctx context.Context, connID string) (tripsense.Connection, map[string]int64, error) {
	out, err := p.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    aws.String(p.t.Connections),
		Key:          map[string]types.AttributeValue{attrConnID: avS(connID)},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return tripsense.Connection{}, nil, mapErr("unregister", err)
	}
	if len(out.Attributes) == 0 {
		return tripsense.Connection{}, nil, tripsense.ErrNotFound
	}
	conn := decodeConnection(out.Attributes)
	marks := decodeWatermarks(out.Attributes)
	reqs := make([]types.WriteRequest, 0, len(marks))
	for r := range marks {
		reqs = append(reqs, roomConnDelete(r, connID))
	}
	if err := p.writeBatch(ctx, reqs); err != nil {
		return tripsense.Connection{}, nil, mapErr("unregister", err)
	}
	return conn, marks, nil
}

func decodeConnection(item map[string]types.AttributeValue) tripsense.Connection {
	c := tripsense.Connection{
		ID:          getS(item, attrConnID),
		UserID:      getS(item, attrUserID),
		ConnectedAt: getTime(item, attrConnectedAt),
	}
	if e := getN(item, attrExpiresAt); e != 0 {
		c.ExpiresAt = time.Unix(e, 0).UTC()
	}
	return c
}

func decodeWatermarks(item map[string]types.AttributeValue) map[string]int64 {
	m, _ := item[attrWatermarks].(*types.AttributeValueMemberM)
	marks := make(map[string]int64)
	if m == nil {
		return marks
	}
	for r, v := range m.Value {
		if n, ok := v.(*types.AttributeValueMemberN); ok {
			marks[r] = parseN(n.Value)
		}
	}
	return marks
}

// live reports whether an item with expiresAt (epoch seconds) is not expired.
func (p *Presence) live(item map[string]types.AttributeValue) bool {
	return getN(item, attrExpiresAt) > p.cfg.Now().Unix()
}

// Get returns the connection, or ErrNotFound when it is unknown or expired.
func (p *Presence) Get(ctx context.Context, connID string) (tripsense.Connection, error) {
	out, err := p.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(p.t.Connections),
		Key:                      map[string]types.AttributeValue{attrConnID: avS(connID)},
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#c, #u, #ca, #e"),
		ExpressionAttributeNames: names("#c", attrConnID, "#u", attrUserID, "#ca", attrConnectedAt, "#e", attrExpiresAt),
	})
	if err != nil {
		return tripsense.Connection{}, mapErr("get connection", err)
	}
	if out.Item == nil || !p.live(out.Item) {
		return tripsense.Connection{}, tripsense.ErrNotFound
	}
	return decodeConnection(out.Item), nil
}

// UserConnections returns the live connections of user, oldest first: one
// Query on the connections byUser index (eventually consistent in AWS).
func (p *Presence) UserConnections(ctx context.Context, user string) ([]tripsense.Connection, error) {
	out := []tripsense.Connection{}
	err := queryAll(ctx, p.db, &dynamodb.QueryInput{
		TableName:                 aws.String(p.t.Connections),
		IndexName:                 aws.String(IndexConnectionsByUser),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  names("#u", attrUserID),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": avS(user)},
	}, func(item map[string]types.AttributeValue) {
		if p.live(item) {
			out = append(out, decodeConnection(item))
		}
	})
	if err != nil {
		return nil, mapErr("user connections", err)
	}
	slices.SortFunc(out, func(a, b tripsense.Connection) int {
		return cmp.Or(a.ConnectedAt.Compare(b.ConnectedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RoomConnections returns the live connections that receive room, by
// connection id: one strongly consistent Query on roomConnections per 1 MB
// page (thousands of connections), whatever the number of members.
func (p *Presence) RoomConnections(ctx context.Context, room string) ([]tripsense.Member, error) {
	out := []tripsense.Member{}
	err := queryAll(ctx, p.db, &dynamodb.QueryInput{
		TableName:                 aws.String(p.t.RoomConnections),
		KeyConditionExpression:    aws.String("#r = :r"),
		ExpressionAttributeNames:  names("#r", attrRoom, "#c", attrConnID, "#u", attrUserID, "#e", attrExpiresAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": avS(room)},
		ProjectionExpression:      aws.String("#c, #u, #e"),
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) {
		if p.live(item) {
			out = append(out, tripsense.Member{ConnID: getS(item, attrConnID), UserID: getS(item, attrUserID)})
		}
	})
	if err != nil {
		return nil, mapErr("room connections", err)
	}
	return out, nil
}

// Join makes every live connection of user receive room: per connection an
// UpdateItem that adds the room to its watermarks (at 0 unless present,
// like a fresh tripsense.Watermark), then the roomConnections items in
// batches. Connections that vanished meanwhile are skipped.
func (p *Presence) Join(ctx context.Context, user, room string) error {
	conns, err := p.UserConnections(ctx, user)
	if err != nil {
		return err
	}
	reqs := make([]types.WriteRequest, 0, len(conns))
	for _, c := range conns {
		_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(p.t.Connections),
			Key:                       map[string]types.AttributeValue{attrConnID: avS(c.ID)},
			UpdateExpression:          aws.String("SET #wm.#r = if_not_exists(#wm.#r, :zero)"),
			ConditionExpression:       aws.String("attribute_exists(#c)"),
			ExpressionAttributeNames:  names("#wm", attrWatermarks, "#r", room, "#c", attrConnID),
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": avN(0)},
		})
		if isConditionFailed(err) {
			continue
		}
		if err != nil {
			return mapErr("join", err)
		}
		reqs = append(reqs, p.roomConnPut(room, c.ID, c.UserID, c.ExpiresAt))
	}
	return mapErr("join", p.writeBatch(ctx, reqs))
}

// Leave stops every live connection of user from receiving room: the
// roomConnections items go first (in batches), then per connection an
// UpdateItem removes the room's watermark.
func (p *Presence) Leave(ctx context.Context, user, room string) error {
	conns, err := p.UserConnections(ctx, user)
	if err != nil {
		return err
	}
	reqs := make([]types.WriteRequest, 0, len(conns))
	for _, c := range conns {
		reqs = append(reqs, roomConnDelete(room, c.ID))
	}
	if err := p.writeBatch(ctx, reqs); err != nil {
		return mapErr("leave", err)
	}
	for _, c := range conns {
		_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(p.t.Connections),
			Key:                      map[string]types.AttributeValue{attrConnID: avS(c.ID)},
			UpdateExpression:         aws.String("REMOVE #wm.#r"),
			ConditionExpression:      aws.String("attribute_exists(#c)"),
			ExpressionAttributeNames: names("#wm", attrWatermarks, "#r", room, "#c", attrConnID),
		})
		if err != nil && !isConditionFailed(err) {
			return mapErr("leave", err)
		}
	}
	return nil
}

// Delivered records that message index of room reached the connection: one
// UpdateItem "SET wm.room = index IF wm.room = index-1". Deliveries that
// arrive out of order are not counted (the watermark stays lower, which is
// safe: a message is never counted as delivered when it was not). Unknown
// connections and rooms the connection does not receive are ignored.
func (p *Presence) Delivered(ctx context.Context, connID, room string, index int64) error {
	if index < 1 {
		return nil
	}
	return p.setWatermark(ctx, "delivered", connID, room, index, "#wm.#r = :prev",
		map[string]types.AttributeValue{":i": avN(index), ":prev": avN(index - 1)})
}

// SeenThrough records that the user of the connection has seen room up to
// index: one UpdateItem "SET wm.room = index IF wm.room < index". Unknown
// connections and rooms the connection does not receive are ignored.
func (p *Presence) SeenThrough(ctx context.Context, connID, room string, index int64) error {
	return p.setWatermark(ctx, "seen through", connID, room, index, "#wm.#r < :i",
		map[string]types.AttributeValue{":i": avN(index)})
}

func (p *Presence) setWatermark(ctx context.Context, op, connID, room string, index int64, cond string, vals map[string]types.AttributeValue) error {
	_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.t.Connections),
		Key:                       map[string]types.AttributeValue{attrConnID: avS(connID)},
		UpdateExpression:          aws.String("SET #wm.#r = :i"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names("#wm", attrWatermarks, "#r", room),
		ExpressionAttributeValues: vals,
	})
	if isConditionFailed(err) {
		return nil
	}
	return mapErr(op, err)
}

// writeBatch writes reqs to roomConnections with BatchWriteItem, 25 at a
// time, retrying unprocessed items with backoff.
func (p *Presence) writeBatch(ctx context.Context, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(len(reqs), 25)
		pending := reqs[:n]
		reqs = reqs[n:]
		for attempt := 1; len(pending) > 0; attempt++ {
			out, err := p.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{p.t.RoomConnections: pending},
			})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems[p.t.RoomConnections]
			if len(pending) == 0 {
				break
			}
			if attempt >= p.cfg.MaxAppendAttempts {
				return tripsense.Errorf(tripsense.ERATELIMITED, "storage is busy; retry later")
			}
			if err := pause(ctx, attempt, p.cfg.MaxBackoff); err != nil {
				return err
			}
		}
	}
	return nil
}

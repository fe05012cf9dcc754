package dynamo

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

var _ tripsense.Presence = (*Presence)(nil)

// maxPendingDeliveries bounds the out-of-order deliveries one watermark item
// remembers (a few hundred bytes); forgetting only keeps it lower.
const maxPendingDeliveries = 64

// maxWatermarkAttempts bounds the read-modify-write rounds of one watermark
// update racing others on the same item; giving up keeps it lower (safe).
const maxWatermarkAttempts = 10

// Presence is a tripsense.Presence over four tables, for the Lambda runtime
// where no process outlives a request:
//
//   - connections: one item per connection (userId, deviceId unless it is
//     the default device, connectedAt, expiresAt),
//     the authority for "is this connection registered" (Get).
//   - userConnections: one item per online user, the authority for "which
//     connections does this user have": a map conns (connectionId ->
//     connectedAt, expiresAt, deviceId unless it is the default device;
//     entries written before devices existed are the default device's)
//     and a version that every admission bumps with
//     a conditional write, so the duplicate policy holds across processes.
//     It is read with strongly consistent GetItems: no decision rests on an
//     index.
//   - watermarks: one small item per (connection, room) the connection
//     receives: its delivery watermark (level), the level it started at
//     (base) and up to 64 out-of-order deliveries above it (pending).
//   - roomConnections: one item per (room, connection), so that fan-out is
//     one Query per message.
//
// Every item carries expiresAt: DynamoDB's TTL deletes it some time after
// it passes, and until then every read here ignores expired connections
// itself.
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
// watermark baseline[room] (0 when absent), if admit admits it:
//
//  1. PutItem the connection item (an id that is live already is ECONFLICT);
//  2. admission: GetItem the user's userConnections item (consistent), run
//     admit on its live connections, write the new entry with the condition
//     that the version is still the one read (a lost race reads again);
//  3. the watermark items, then the roomConnections items (BatchWriteItem,
//     25 at a time);
//  4. GetItem the connection item again: if it is gone, the connection was
//     replaced or found gone while it registered, and what step 3 wrote is
//     deleted again (ECONFLICT).
//
// Steps 1 and 3 come before and after the admission so that a connection
// another instance finds in the user's item always has its connection item
// (Unregister removes it completely) and only receives rooms once it was
// admitted. A refusal deletes the connection item. Any other failure after
// step 1 unregisters the connection again (best effort). A zero ConnectedAt
// is set to now, a zero ExpiresAt to ConnectedAt+tripsense.ConnectionTTL
// (expiresAt is kept in seconds).
func (p *Presence) Register(ctx context.Context, conn tripsense.Connection, rooms []string, baseline map[string]int64, admit tripsense.Admission) ([]tripsense.Connection, error) {
	if conn.ID == "" || conn.UserID == "" {
		return nil, tripsense.Errorf(tripsense.EINVALID, "connection id and user are required")
	}
	now := p.cfg.Now()
	if conn.ConnectedAt.IsZero() {
		conn.ConnectedAt = now
	}
	if conn.ExpiresAt.IsZero() {
		conn.ExpiresAt = conn.ConnectedAt.Add(tripsense.ConnectionTTL)
	}
	item := map[string]types.AttributeValue{
		attrConnID:      avS(conn.ID),
		attrUserID:      avS(conn.UserID),
		attrConnectedAt: avTime(conn.ConnectedAt),
		attrExpiresAt:   avN(conn.ExpiresAt.Unix()),
	}
	if conn.DeviceID != tripsense.DefaultDevice {
		item[attrDeviceID] = avS(conn.DeviceID)
	}
	_, err := p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(p.t.Connections),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#c) OR #e < :now"),
		ExpressionAttributeNames:  names("#c", attrConnID, "#e", attrExpiresAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(now.Unix())},
	})
	if isConditionFailed(err) {
		return nil, tripsense.Wrap(tripsense.ECONFLICT, err, "connection "+conn.ID+" is already registered")
	}
	if err != nil {
		return nil, mapErr("register", err)
	}
	replaced, err := p.admit(ctx, conn, admit)
	if err != nil {
		if _, derr := p.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(p.t.Connections), Key: map[string]types.AttributeValue{attrConnID: avS(conn.ID)},
		}); derr != nil {
			err = errors.Join(err, mapErr("register: undo", derr))
		}
		return nil, err
	}
	fail := func(err error) ([]tripsense.Connection, error) {
		_, _, _ = p.Unregister(context.WithoutCancel(ctx), conn.ID)
		return nil, mapErr("register", err)
	}
	seen := map[string]bool{}
	var marks, fanout []types.WriteRequest
	for _, r := range rooms {
		if seen[r] {
			continue
		}
		seen[r] = true
		marks = append(marks, p.watermarkPut(conn.ID, r, baseline[r], conn.ExpiresAt))
		fanout = append(fanout, p.roomConnPut(r, conn.ID, conn.UserID, conn.ExpiresAt))
	}
	if err := p.writeBatch(ctx, p.t.Watermarks, marks); err != nil {
		return fail(err)
	}
	if err := p.writeBatch(ctx, p.t.RoomConnections, fanout); err != nil {
		return fail(err)
	}
	ok, err := p.exists(ctx, conn.ID)
	if err != nil {
		return fail(err)
	}
	if !ok {
		if err := p.removeRooms(ctx, conn.ID, slices.Collect(maps.Keys(seen))); err != nil {
			return nil, mapErr("register: undo", err)
		}
		return nil, tripsense.Errorf(tripsense.ECONFLICT, "connection %s was removed while it registered", conn.ID)
	}
	return replaced, nil
}

// admit adds conn to its user's userConnections item if admit allows it,
// with a conditional write on the item's version, retrying (bounded, with
// backoff) when another admission of the user changed the item first. It
// also removes expired entries.
func (p *Presence) admit(ctx context.Context, conn tripsense.Connection, admit tripsense.Admission) ([]tripsense.Connection, error) {
	for attempt := 1; ; attempt++ {
		item, err := p.userItem(ctx, conn.UserID)
		if err != nil {
			return nil, mapErr("register", err)
		}
		all := decodeUserConns(conn.UserID, item)
		var live []tripsense.Connection
		var expired []string
		expires := conn.ExpiresAt.Unix()
		for _, c := range all {
			switch {
			case c.ID == conn.ID:
			case c.ExpiresAt.Unix() > p.cfg.Now().Unix():
				live = append(live, c)
				expires = max(expires, c.ExpiresAt.Unix())
			default:
				expired = append(expired, c.ID)
			}
		}
		var replaced []tripsense.Connection
		if admit != nil {
			ids, err := admit(live)
			if err != nil {
				return nil, err
			}
			for _, c := range live {
				if slices.Contains(ids, c.ID) {
					replaced = append(replaced, c)
				}
			}
		}
		entry := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			attrConnectedAt: avTime(conn.ConnectedAt), attrExpiresAt: avN(conn.ExpiresAt.Unix()),
		}}
		if conn.DeviceID != tripsense.DefaultDevice {
			entry.Value[attrDeviceID] = avS(conn.DeviceID)
		}
		in := &dynamodb.UpdateItemInput{
			TableName:                aws.String(p.t.UserConnections),
			Key:                      map[string]types.AttributeValue{attrUserID: avS(conn.UserID)},
			ExpressionAttributeNames: names("#cs", attrConns, "#v", attrVersion, "#e", attrExpiresAt),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": avN(1), ":exp": avN(expires),
			},
		}
		if item == nil {
			in.UpdateExpression = aws.String("SET #cs = :cs, #v = :one, #e = :exp")
			in.ConditionExpression = aws.String("attribute_not_exists(#v)")
			in.ExpressionAttributeValues[":cs"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{conn.ID: entry}}
		} else {
			in.ExpressionAttributeNames["#id"] = conn.ID
			in.ExpressionAttributeValues[":entry"] = entry
			in.ExpressionAttributeValues[":v"] = avN(getN(item, attrVersion))
			expr := "SET #cs.#id = :entry, #e = :exp ADD #v :one"
			if len(expired) > 0 {
				var rm []string
				for i, id := range expired[:min(len(expired), 50)] {
					k := "#x" + strconv.Itoa(i)
					in.ExpressionAttributeNames[k] = id
					rm = append(rm, "#cs."+k)
				}
				expr += " REMOVE " + strings.Join(rm, ", ")
			}
			in.UpdateExpression = aws.String(expr)
			in.ConditionExpression = aws.String("#v = :v")
		}
		_, err = p.db.UpdateItem(ctx, in)
		if err == nil {
			return replaced, nil
		}
		if !isConditionFailed(err) {
			return nil, mapErr("register", err)
		}
		if attempt >= p.cfg.MaxAppendAttempts {
			return nil, tripsense.Errorf(tripsense.ERATELIMITED, "too many simultaneous connects of user %s; retry later", conn.UserID)
		}
		if err := pause(ctx, attempt, p.cfg.MaxBackoff); err != nil {
			return nil, mapErr("register", err)
		}
	}
}

// userItem reads the userConnections item of user (nil when none),
// strongly consistent.
func (p *Presence) userItem(ctx context.Context, user string) (map[string]types.AttributeValue, error) {
	out, err := p.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(p.t.UserConnections),
		Key:            map[string]types.AttributeValue{attrUserID: avS(user)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// decodeUserConns returns every entry of a userConnections item, expired
// ones included, oldest first.
func decodeUserConns(user string, item map[string]types.AttributeValue) []tripsense.Connection {
	m, _ := item[attrConns].(*types.AttributeValueMemberM)
	if m == nil {
		return nil
	}
	out := make([]tripsense.Connection, 0, len(m.Value))
	for id, v := range m.Value {
		e, _ := v.(*types.AttributeValueMemberM)
		if e == nil {
			continue
		}
		c := tripsense.Connection{ID: id, UserID: user, DeviceID: getS(e.Value, attrDeviceID), ConnectedAt: getTime(e.Value, attrConnectedAt)}
		if x := getN(e.Value, attrExpiresAt); x != 0 {
			c.ExpiresAt = time.Unix(x, 0).UTC()
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b tripsense.Connection) int {
		return cmp.Or(a.ConnectedAt.Compare(b.ConnectedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// exists reports whether the connection item is there (strongly consistent).
func (p *Presence) exists(ctx context.Context, connID string) (bool, error) {
	out, err := p.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(p.t.Connections),
		Key:                      map[string]types.AttributeValue{attrConnID: avS(connID)},
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#c"),
		ExpressionAttributeNames: names("#c", attrConnID),
	})
	if err != nil {
		return false, err
	}
	return out.Item != nil, nil
}

func (p *Presence) roomConnPut(room, connID, user string, expires time.Time) types.WriteRequest {
	return types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
		attrRoom:      avS(room),
		attrConnID:    avS(connID),
		attrUserID:    avS(user),
		attrExpiresAt: avN(expires.Unix()),
	}}}
}

func (p *Presence) watermarkPut(connID, room string, level int64, expires time.Time) types.WriteRequest {
	return types.WriteRequest{PutRequest: &types.PutRequest{Item: p.watermarkItem(connID, room, level, expires)}}
}

func (p *Presence) watermarkItem(connID, room string, level int64, expires time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrConnID:    avS(connID),
		attrRoom:      avS(room),
		attrLevel:     avN(level),
		attrBase:      avN(level),
		attrExpiresAt: avN(expires.Unix()),
	}
}

func keyRoomConn(room, connID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrRoom: avS(room), attrConnID: avS(connID)}
}

func keyWatermark(connID, room string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrConnID: avS(connID), attrRoom: avS(room)}
}

// removeRooms deletes the roomConnections items of connID in rooms, then
// its watermark items there.
func (p *Presence) removeRooms(ctx context.Context, connID string, rooms []string) error {
	fanout := make([]types.WriteRequest, 0, len(rooms))
	marks := make([]types.WriteRequest, 0, len(rooms))
	for _, r := range rooms {
		fanout = append(fanout, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyRoomConn(r, connID)}})
		marks = append(marks, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyWatermark(connID, r)}})
	}
	if err := p.writeBatch(ctx, p.t.RoomConnections, fanout); err != nil {
		return err
	}
	return p.writeBatch(ctx, p.t.Watermarks, marks)
}

// Unregister deletes the connection item (one DeleteItem returning the old
// item: of concurrent calls for one connection exactly one gets it), reads
// its watermark items (one strongly consistent Query per 1 MB), deletes its
// roomConnections items, its entry in the user's userConnections item and
// its watermark items, and returns the watermarks that moved since they
// were written at Register or Join (the others would change no cursor). It
// returns ErrNotFound when the connection is unknown.
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
	marks := make(map[string]int64)
	var rooms []string
	err = queryAll(ctx, p.db, &dynamodb.QueryInput{
		TableName:                 aws.String(p.t.Watermarks),
		KeyConditionExpression:    aws.String("#c = :c"),
		ExpressionAttributeNames:  names("#c", attrConnID, "#r", attrRoom, "#l", attrLevel, "#b", attrBase),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": avS(connID)},
		ProjectionExpression:      aws.String("#r, #l, #b"),
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) {
		r := getS(item, attrRoom)
		rooms = append(rooms, r)
		if l := getN(item, attrLevel); l > getN(item, attrBase) {
			marks[r] = l
		}
	})
	if err != nil {
		return tripsense.Connection{}, nil, mapErr("unregister", err)
	}
	fanout := make([]types.WriteRequest, 0, len(rooms))
	for _, r := range rooms {
		fanout = append(fanout, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyRoomConn(r, connID)}})
	}
	if err := p.writeBatch(ctx, p.t.RoomConnections, fanout); err != nil {
		return tripsense.Connection{}, nil, mapErr("unregister", err)
	}
	_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(p.t.UserConnections),
		Key:                      map[string]types.AttributeValue{attrUserID: avS(conn.UserID)},
		UpdateExpression:         aws.String("REMOVE #cs.#id"),
		ConditionExpression:      aws.String("attribute_exists(#cs)"),
		ExpressionAttributeNames: names("#cs", attrConns, "#id", connID),
	})
	if err != nil && !isConditionFailed(err) {
		return tripsense.Connection{}, nil, mapErr("unregister", err)
	}
	marksDel := make([]types.WriteRequest, 0, len(rooms))
	for _, r := range rooms {
		marksDel = append(marksDel, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyWatermark(connID, r)}})
	}
	if err := p.writeBatch(ctx, p.t.Watermarks, marksDel); err != nil {
		return tripsense.Connection{}, nil, mapErr("unregister", err)
	}
	return conn, marks, nil
}

func decodeConnection(item map[string]types.AttributeValue) tripsense.Connection {
	c := tripsense.Connection{
		ID:          getS(item, attrConnID),
		UserID:      getS(item, attrUserID),
		DeviceID:    getS(item, attrDeviceID),
		ConnectedAt: getTime(item, attrConnectedAt),
	}
	if e := getN(item, attrExpiresAt); e != 0 {
		c.ExpiresAt = time.Unix(e, 0).UTC()
	}
	return c
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
		ProjectionExpression:     aws.String("#c, #u, #d, #ca, #e"),
		ExpressionAttributeNames: names("#c", attrConnID, "#u", attrUserID, "#d", attrDeviceID, "#ca", attrConnectedAt, "#e", attrExpiresAt),
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
// strongly consistent GetItem of the user's userConnections item.
func (p *Presence) UserConnections(ctx context.Context, user string) ([]tripsense.Connection, error) {
	item, err := p.userItem(ctx, user)
	if err != nil {
		return nil, mapErr("user connections", err)
	}
	out := []tripsense.Connection{}
	now := p.cfg.Now().Unix()
	for _, c := range decodeUserConns(user, item) {
		if c.ExpiresAt.Unix() > now {
			out = append(out, c)
		}
	}
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

// Join makes every live connection of user receive room: per connection a
// PutItem of its watermark item (at 0, like a fresh tripsense.Watermark;
// kept when it exists), the roomConnections items in batches, then per
// connection a GetItem of the connection item: a connection that
// unregistered meanwhile has what Join wrote deleted again.
func (p *Presence) Join(ctx context.Context, user, room string) error {
	conns, err := p.UserConnections(ctx, user)
	if err != nil {
		return err
	}
	fanout := make([]types.WriteRequest, 0, len(conns))
	for _, c := range conns {
		_, err := p.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(p.t.Watermarks),
			Item:                     p.watermarkItem(c.ID, room, 0, c.ExpiresAt),
			ConditionExpression:      aws.String("attribute_not_exists(#r)"),
			ExpressionAttributeNames: names("#r", attrRoom),
		})
		if err != nil && !isConditionFailed(err) {
			return mapErr("join", err)
		}
		fanout = append(fanout, p.roomConnPut(room, c.ID, c.UserID, c.ExpiresAt))
	}
	if err := p.writeBatch(ctx, p.t.RoomConnections, fanout); err != nil {
		return mapErr("join", err)
	}
	for _, c := range conns {
		ok, err := p.exists(ctx, c.ID)
		if err != nil {
			return mapErr("join", err)
		}
		if !ok {
			if err := p.removeRooms(ctx, c.ID, []string{room}); err != nil {
				return mapErr("join", err)
			}
		}
	}
	return nil
}

// Leave stops every live connection of user from receiving room: the
// roomConnections items go first, then the watermark items (in batches).
func (p *Presence) Leave(ctx context.Context, user, room string) error {
	conns, err := p.UserConnections(ctx, user)
	if err != nil {
		return err
	}
	fanout := make([]types.WriteRequest, 0, len(conns))
	marks := make([]types.WriteRequest, 0, len(conns))
	for _, c := range conns {
		fanout = append(fanout, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyRoomConn(room, c.ID)}})
		marks = append(marks, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyWatermark(c.ID, room)}})
	}
	if err := p.writeBatch(ctx, p.t.RoomConnections, fanout); err != nil {
		return mapErr("leave", err)
	}
	return mapErr("leave", p.writeBatch(ctx, p.t.Watermarks, marks))
}

// Delivered records that message index of room reached the connection, in
// the (connection, room) watermark item. In order (index = level+1 and no
// out-of-order delivery remembered) it is one UpdateItem "SET level = index
// IF level = index-1 AND no pending". Otherwise it reads the item and
// applies tripsense.Watermark's rule (advance through remembered
// deliveries, or remember this one, at most 64), written back with a
// condition on what was read. Unknown connections and rooms the connection
// does not receive are ignored.
func (p *Presence) Delivered(ctx context.Context, connID, room string, index int64) error {
	if index < 1 {
		return nil
	}
	return p.updateWatermark(ctx, "delivered", connID, room, "#l = :prev", index, true,
		map[string]types.AttributeValue{":i": avN(index), ":prev": avN(index - 1)},
		func(w *tripsense.Watermark) { w.Delivered(index) })
}

// SeenThrough records that the user of the connection has seen room up to
// index: one UpdateItem "SET level = index IF level < index AND no pending",
// or, with out-of-order deliveries remembered, the read-modify-write of
// Delivered. Unknown connections and rooms the connection does not receive
// are ignored.
func (p *Presence) SeenThrough(ctx context.Context, connID, room string, index int64) error {
	return p.updateWatermark(ctx, "seen through", connID, room, "#l < :i", index, false,
		map[string]types.AttributeValue{":i": avN(index)},
		func(w *tripsense.Watermark) { w.SeenThrough(index) })
}

// updateWatermark runs the fast conditional write; when its condition
// fails it applies the rule to the item as it is (returned with the failed
// condition by DynamoDB, or read) and writes the result conditionally on
// what it read, retrying a bounded number of times. A delivery more than
// maxPendingDeliveries above the level is not remembered: a connection far
// behind (an old unread gap) keeps paying one call per delivery in AWS
// (where the failed condition returns the item).
func (p *Presence) updateWatermark(ctx context.Context, op, connID, room, fastCond string, index int64, window bool, vals map[string]types.AttributeValue, apply func(*tripsense.Watermark)) error {
	key := keyWatermark(connID, room)
	_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(p.t.Watermarks),
		Key:                                 key,
		UpdateExpression:                    aws.String("SET #l = :i"),
		ConditionExpression:                 aws.String(fastCond + " AND attribute_not_exists(#p)"),
		ExpressionAttributeNames:            names("#l", attrLevel, "#p", attrPending),
		ExpressionAttributeValues:           vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if !isConditionFailed(err) {
		return mapErr(op, err)
	}
	item := failedItem(err)
	for attempt := 1; attempt <= maxWatermarkAttempts; attempt++ {
		if item == nil {
			out, err := p.db.GetItem(ctx, &dynamodb.GetItemInput{
				TableName: aws.String(p.t.Watermarks), Key: key, ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				return mapErr(op, err)
			}
			if out.Item == nil {
				return nil // not a connection and room we know
			}
			item = out.Item
		}
		level, pending, ver := getN(item, attrLevel), getNS(item, attrPending), getN(item, attrWMVersion)
		item = nil
		if window && index > level+maxPendingDeliveries {
			return nil // outside the reordering window
		}
		w := tripsense.RestoreWatermark(level, pending)
		apply(&w)
		w.Trim(maxPendingDeliveries)
		next := w.Pending()
		if w.Level() == level && slices.Equal(next, pending) {
			return nil // nothing to record
		}
		in := &dynamodb.UpdateItemInput{
			TableName:                aws.String(p.t.Watermarks),
			Key:                      key,
			ExpressionAttributeNames: names("#l", attrLevel, "#p", attrPending, "#v", attrWMVersion),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":l": avN(w.Level()), ":ol": avN(level), ":nv": avN(ver + 1),
			},
		}
		if len(next) > 0 {
			in.UpdateExpression = aws.String("SET #l = :l, #v = :nv, #p = :p")
			in.ExpressionAttributeValues[":p"] = avNS(next)
		} else {
			in.UpdateExpression = aws.String("SET #l = :l, #v = :nv REMOVE #p")
		}
		if ver == 0 {
			in.ConditionExpression = aws.String("#l = :ol AND attribute_not_exists(#v)")
		} else {
			in.ConditionExpression = aws.String("#l = :ol AND #v = :ov")
			in.ExpressionAttributeValues[":ov"] = avN(ver)
		}
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		_, err = p.db.UpdateItem(ctx, in)
		if err == nil {
			return nil
		}
		if !isConditionFailed(err) {
			return mapErr(op, err)
		}
		item = failedItem(err)
		if err := pause(ctx, attempt, p.cfg.MaxBackoff); err != nil {
			return mapErr(op, err)
		}
	}
	return nil // lost every race: the watermark stays lower, which is safe
}

// failedItem returns the item a failed conditional write returned
// (ReturnValuesOnConditionCheckFailure ALL_OLD), nil when there is none:
// the item does not exist, or the endpoint (dynalite) does not return it.
func failedItem(err error) map[string]types.AttributeValue {
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) && len(cf.Item) > 0 {
		return cf.Item
	}
	return nil
}

// writeBatch writes reqs to table with BatchWriteItem, 25 at a time,
// retrying unprocessed items with backoff.
func (p *Presence) writeBatch(ctx context.Context, table string, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(len(reqs), 25)
		pending := reqs[:n]
		reqs = reqs[n:]
		for attempt := 1; len(pending) > 0; attempt++ {
			out, err := p.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{table: pending},
			})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems[table]
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

// SetExpiry moves the expiry of a live connection (an in-band token
// refresh) to expiresAt, bounded by its ConnectedAt+tripsense.ConnectionTTL,
// on every item that carries it: the connection item (what Get, and so
// every frame, checks), its entry in the user's userConnections item (and
// that item's own expiresAt, the latest of its entries), and its watermark
// and roomConnections items (what fan-out reads). It costs one read and
// 3 + 2 per room writes. It returns ErrNotFound when the connection is
// unknown or expired. Items the connection lost meanwhile (a room it left,
// an entry of a replaced connection) are not written again.
func (p *Presence) SetExpiry(ctx context.Context, connID string, expiresAt time.Time) error {
	conn, err := p.Get(ctx, connID)
	if err != nil {
		return err
	}
	if limit := conn.ConnectedAt.Add(tripsense.ConnectionTTL); !conn.ConnectedAt.IsZero() && expiresAt.After(limit) {
		expiresAt = limit
	}
	exp := avN(expiresAt.Unix())
	_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.t.Connections),
		Key:                       map[string]types.AttributeValue{attrConnID: avS(connID)},
		UpdateExpression:          aws.String("SET #e = :e"),
		ConditionExpression:       aws.String("attribute_exists(#c) AND #e > :now"),
		ExpressionAttributeNames:  names("#c", attrConnID, "#e", attrExpiresAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": exp, ":now": avN(p.cfg.Now().Unix())},
	})
	if isConditionFailed(err) {
		return tripsense.ErrNotFound
	}
	if err != nil {
		return mapErr("set expiry", err)
	}
	// Not a new admission: the version stays, and a concurrent one that
	// read the entry before sees the connection live either way.
	_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.t.UserConnections),
		Key:                       map[string]types.AttributeValue{attrUserID: avS(conn.UserID)},
		UpdateExpression:          aws.String("SET #cs.#id.#e = :e"),
		ConditionExpression:       aws.String("attribute_exists(#cs.#id)"),
		ExpressionAttributeNames:  names("#cs", attrConns, "#id", connID, "#e", attrExpiresAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": exp},
	})
	if err != nil && !isConditionFailed(err) {
		return mapErr("set expiry", err)
	}
	_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.t.UserConnections),
		Key:                       map[string]types.AttributeValue{attrUserID: avS(conn.UserID)},
		UpdateExpression:          aws.String("SET #e = :e"),
		ConditionExpression:       aws.String("attribute_exists(#cs) AND #e < :e"),
		ExpressionAttributeNames:  names("#cs", attrConns, "#e", attrExpiresAt),
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": exp},
	})
	if err != nil && !isConditionFailed(err) {
		return mapErr("set expiry", err)
	}
	var rooms []string
	err = queryAll(ctx, p.db, &dynamodb.QueryInput{
		TableName:                 aws.String(p.t.Watermarks),
		KeyConditionExpression:    aws.String("#c = :c"),
		ExpressionAttributeNames:  names("#c", attrConnID, "#r", attrRoom),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": avS(connID)},
		ProjectionExpression:      aws.String("#r"),
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) { rooms = append(rooms, getS(item, attrRoom)) })
	if err != nil {
		return mapErr("set expiry", err)
	}
	for _, r := range rooms {
		for _, u := range []struct {
			table string
			key   map[string]types.AttributeValue
		}{{p.t.Watermarks, keyWatermark(connID, r)}, {p.t.RoomConnections, keyRoomConn(r, connID)}} {
			_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(u.table),
				Key:                       u.key,
				UpdateExpression:          aws.String("SET #e = :e"),
				ConditionExpression:       aws.String("attribute_exists(#c)"),
				ExpressionAttributeNames:  names("#c", attrConnID, "#e", attrExpiresAt),
				ExpressionAttributeValues: map[string]types.AttributeValue{":e": exp},
			})
			if err != nil && !isConditionFailed(err) {
				return mapErr("set expiry", err)
			}
		}
	}
	return nil
}

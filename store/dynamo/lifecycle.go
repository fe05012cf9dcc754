package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

// putLifecycle adds the lifecycle attributes of m that are set to item.
func putLifecycle(item map[string]types.AttributeValue, m *tripsense.Message) {
	if m.Kind != "" {
		item[attrKind] = avS(m.Kind)
		item[attrTarget] = avN(m.Target)
	}
	if m.ReplyTo > 0 {
		item[attrReplyTo] = avN(m.ReplyTo)
	}
	if m.Reaction != "" {
		item[attrReaction] = avS(m.Reaction)
		item[attrRemove] = &types.AttributeValueMemberBOOL{Value: m.Remove}
	}
	if !m.EditedAt.IsZero() {
		item[attrEditedAt] = avTime(m.EditedAt)
	}
	if m.Deleted {
		item[attrDeleted] = &types.AttributeValueMemberBOOL{Value: true}
		delete(item, attrBody)
		if m.DeletedBy != "" {
			item[attrDeletedBy] = avS(m.DeletedBy)
		}
		if !m.DeletedAt.IsZero() {
			item[attrDeletedAt] = avTime(m.DeletedAt)
		}
	}
	if len(m.Reactions) > 0 {
		l := make([]types.AttributeValue, len(m.Reactions))
		for i, r := range m.Reactions {
			l[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"u": avS(r.UserID), "r": avS(r.Reaction)}}
		}
		item[attrReactions] = &types.AttributeValueMemberL{Value: l}
	}
	if len(m.Edits) > 0 {
		item[attrEdits] = avNS(m.Edits)
	}
}

// getLifecycle reads the lifecycle attributes of item into m.
func getLifecycle(item map[string]types.AttributeValue, m *tripsense.Message) {
	m.Kind = getS(item, attrKind)
	m.Target = getN(item, attrTarget)
	m.ReplyTo = getN(item, attrReplyTo)
	m.Reaction = getS(item, attrReaction)
	m.Remove = getBool(item, attrRemove)
	m.EditedAt = getTime(item, attrEditedAt)
	m.Deleted = getBool(item, attrDeleted)
	m.DeletedBy = getS(item, attrDeletedBy)
	m.DeletedAt = getTime(item, attrDeletedAt)
	if l, ok := item[attrReactions].(*types.AttributeValueMemberL); ok {
		m.Reactions = make([]tripsense.Reaction, 0, len(l.Value))
		for _, v := range l.Value {
			if mv, ok := v.(*types.AttributeValueMemberM); ok {
				m.Reactions = append(m.Reactions, tripsense.Reaction{UserID: getS(mv.Value, "u"), Reaction: getS(mv.Value, "r")})
			}
		}
		tripsense.SortReactions(m.Reactions)
	}
	m.Edits = getNS(item, attrEdits)
}

func getBool(item map[string]types.AttributeValue, name string) bool {
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

// appendDecided appends an entry a rule decides: a reply (CheckReply) or
// an event (ApplyEvent). DynamoDB Local stand-ins have no transactions, so
// it takes three steps, each a single-item conditional write:
//
//  1. Decide against the target as it is now (a strongly consistent read):
//     a refusal stores nothing.
//  2. Append the event with the room's next index, like any message (the
//     gap-free index, the clientMsgId claim).
//  3. Apply it to the target with a conditional write on the target's
//     version, deciding again on the target as read: two events on one
//     message are applied one after the other. When the rule now refuses
//     (the message was deleted between 1 and 3), the event's body is
//     removed and it is marked deleted, so it changes nothing and holds
//     no text, and the sender gets the refusal.
//
// Steps 1 to 3 run while the event holds its target (lockTarget: a
// conditional write of a hold with a lease on the target's item), so the
// events on one message are appended in the order they are applied: an
// edit appended after a delete is decided on the deleted message and
// refused, as a client replaying the log in index order would. A hold ends
// with the event's write of the target (a PutItem without it) or is
// released; one whose Lambda died lapses after targetLease.
//
// A retry of the same clientMsgId (after a crash between 2 and 3) finds
// its event and runs step 3 again, which is idempotent.
func (s *Store) appendDecided(ctx context.Context, nm *tripsense.NewMessage, msg tripsense.Message, now time.Time) (tripsense.Message, bool, error) {
	if nm.ReplyTo > 0 {
		t, _, found, err := s.getEntry(ctx, nm.Room, nm.ReplyTo)
		if err != nil {
			return tripsense.Message{}, false, mapErr("append", err)
		}
		if err := tripsense.CheckReply(ptrIf(&t, found)); err != nil {
			return tripsense.Message{}, false, err
		}
	}
	if nm.Kind == "" {
		return s.appendEntry(ctx, msg, now)
	}
	held, err := s.lockTarget(ctx, nm.Room, nm.Target)
	if err != nil {
		return tripsense.Message{}, false, err
	}
	ev, dup, wrote, err := s.appendEvent(ctx, nm, msg, now)
	if held != "" && !wrote {
		s.unlockTarget(ctx, nm.Room, nm.Target, held)
	}
	return ev, dup, err
}

// targetLease bounds how long an event holds its target: longer than the
// steps take, short enough that a Lambda that died holding it blocks the
// message's other events only briefly.
const targetLease = 5 * time.Second

// lockTarget takes the hold of the message at index for one event and
// returns its token, or "" when there is no such message (the rule then
// refuses the event; nothing to hold). It retries while another event holds
// the message, up to MaxAppendAttempts, then answers ECONFLICT.
func (s *Store) lockTarget(ctx context.Context, room string, index int64) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	for attempt := 1; ; attempt++ {
		now := time.Now()
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(s.t.Messages),
			Key:                      map[string]types.AttributeValue{attrRoom: avS(room), attrIndex: avN(index)},
			UpdateExpression:         aws.String("SET #lk = :t, #lkx = :until"),
			ConditionExpression:      aws.String("attribute_exists(#i) AND (attribute_not_exists(#lk) OR #lkx < :now)"),
			ExpressionAttributeNames: names("#i", attrIndex, "#lk", attrLock, "#lkx", attrLockUntil),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t": avS(token), ":until": avN(now.Add(targetLease).UnixMilli()), ":now": avN(now.UnixMilli()),
			},
		})
		if err == nil {
			return token, nil
		}
		if !isConditionFailed(err) {
			return "", mapErr("append", err)
		}
		if _, _, found, gerr := s.getEntry(ctx, room, index); gerr != nil {
			return "", mapErr("append", gerr)
		} else if !found {
			return "", nil
		}
		if attempt >= s.cfg.MaxAppendAttempts {
			return "", tripsense.Errorf(tripsense.ECONFLICT, "message %d of room %s is busy; retry (with the same clientMsgId)", index, room)
		}
		if err := pause(ctx, attempt, s.cfg.MaxBackoff); err != nil {
			return "", mapErr("append", err)
		}
	}
}

// unlockTarget releases a hold that the event's own write did not end
// (a refusal, a retry, an error). Best effort: a hold that is not released
// lapses after targetLease.
func (s *Store) unlockTarget(ctx context.Context, room string, index int64, token string) {
	_, _ = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.t.Messages),
		Key:                       map[string]types.AttributeValue{attrRoom: avS(room), attrIndex: avN(index)},
		UpdateExpression:          aws.String("REMOVE #lk, #lkx"),
		ConditionExpression:       aws.String("#lk = :t"),
		ExpressionAttributeNames:  names("#lk", attrLock, "#lkx", attrLockUntil),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": avS(token)},
	})
}

// appendEvent is steps 1 to 3 of appendDecided for an event, run while the
// event holds its target; wrote says its write of the target ended the hold.
func (s *Store) appendEvent(ctx context.Context, nm *tripsense.NewMessage, msg tripsense.Message, now time.Time) (tripsense.Message, bool, bool, error) {
	t, _, found, err := s.getEntry(ctx, nm.Room, nm.Target)
	if err != nil {
		return tripsense.Message{}, false, false, mapErr("append", err)
	}
	probe := cloneEntry(t)
	if refused := tripsense.ApplyEvent(ptrIf(&probe, found), nm, 0, msg.CreateTime); refused != nil {
		if nm.ClientMsgID == "" {
			return tripsense.Message{}, false, false, refused
		}
		// A retry of an event that was applied: answer the original.
		idx, ok, err := s.claimedIndex(ctx, nm.Room, dedupeSender(nm.UserID, nm.ClientMsgID), now)
		if err != nil {
			return tripsense.Message{}, false, false, err
		}
		if ok {
			if got, found, err := s.getMessage(ctx, nm.Room, idx); err != nil {
				return tripsense.Message{}, false, false, mapErr("append", err)
			} else if found && got.UserID == nm.UserID && got.ClientMsgID == nm.ClientMsgID {
				return got, true, false, nil
			}
		}
		return tripsense.Message{}, false, false, refused
	}
	ev, dup, err := s.appendEntry(ctx, msg, now)
	if err != nil {
		return tripsense.Message{}, false, false, err
	}
	wrote, refused, err := s.applyEvent(ctx, nm, ev.Index, ev.CreateTime, dup)
	if err != nil {
		return tripsense.Message{}, false, wrote, err
	} else if refused != nil {
		if err := s.redactEntry(ctx, nm.Room, ev.Index); err != nil {
			return tripsense.Message{}, false, wrote, err
		}
		return tripsense.Message{}, false, wrote, refused
	}
	return ev, dup, wrote, nil
}

// applyEvent is step 3 of appendDecided: it applies the event at index to
// its target with a conditional write on the target's version, retrying
// when another writer got there first; wrote says it wrote the target
// (which ends the event's hold). refused is the rule's answer on the
// target as it is when the write is decided. For a retried event (dup) a
// refusal means it was applied already.
func (s *Store) applyEvent(ctx context.Context, nm *tripsense.NewMessage, index int64, at time.Time, dup bool) (wrote bool, refused, err error) {
	for attempt := 1; ; attempt++ {
		t, ver, found, err := s.getEntry(ctx, nm.Room, nm.Target)
		if err != nil {
			return false, nil, mapErr("append", err)
		}
		if found && nm.Kind == tripsense.KindEdit && slices.Contains(t.Edits, index) {
			return false, nil, nil // applied already
		}
		next := cloneEntry(t)
		if refused := tripsense.ApplyEvent(ptrIf(&next, found), nm, index, at); refused != nil {
			if dup {
				return false, nil, nil
			}
			return false, refused, nil
		}
		if nm.Kind == tripsense.KindEdit && len(t.Edits) > 0 && slices.Max(t.Edits) > index {
			// A later edit was applied first: its text stays.
			next.Body, next.EditedAt = t.Body, t.EditedAt
			slices.Sort(next.Edits)
		}
		err = s.putEntry(ctx, &next, ver)
		if err == nil {
			if next.Deleted {
				for _, e := range t.Edits {
					if err := s.redactEntry(ctx, nm.Room, e); err != nil {
						return true, nil, err
					}
				}
			}
			return true, nil, nil
		}
		if !isConditionFailed(err) {
			return false, nil, mapErr("append", err)
		}
		if attempt >= s.cfg.MaxAppendAttempts {
			return false, nil, tripsense.Errorf(tripsense.ECONFLICT, "message %d of room %s is busy; retry (with the same clientMsgId)", nm.Target, nm.Room)
		}
		if err := pause(ctx, attempt, s.cfg.MaxBackoff); err != nil {
			return false, nil, mapErr("append", err)
		}
	}
}

// getEntry reads the entry at index with its version (strongly consistent).
func (s *Store) getEntry(ctx context.Context, room string, index int64) (tripsense.Message, int64, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.t.Messages),
		Key:            map[string]types.AttributeValue{attrRoom: avS(room), attrIndex: avN(index)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		return tripsense.Message{}, 0, false, err
	}
	return decodeMessage(out.Item), getN(out.Item, attrEntryVer), true, nil
}

// putEntry replaces the entry m, which was read at version ver, with the
// condition that it is still at ver; it writes ver+1.
func (s *Store) putEntry(ctx context.Context, m *tripsense.Message, ver int64) error {
	item := map[string]types.AttributeValue{
		attrRoom:       avS(m.Room),
		attrIndex:      avN(m.Index),
		attrUserID:     avS(m.UserID),
		attrBody:       avS(m.Body),
		attrType:       avS(m.Type),
		attrCreateTime: avTime(m.CreateTime),
		attrEntryVer:   avN(ver + 1),
	}
	if m.ClientMsgID != "" {
		item[attrClientMsgID] = avS(m.ClientMsgID)
	}
	putLifecycle(item, m)
	cond := "attribute_exists(#i) AND #v = :v"
	values := map[string]types.AttributeValue{":v": avN(ver)}
	if ver == 0 {
		cond, values = "attribute_exists(#i) AND attribute_not_exists(#v)", nil
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.t.Messages),
		Item:                      item,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names("#i", attrIndex, "#v", attrEntryVer),
		ExpressionAttributeValues: values,
	})
	return err
}

// redactEntry removes the body of the entry at index (an edit of a
// deleted message, an event refused after it was appended, a message of an
// erased user) and marks it deleted: the attribute is gone from the item.
func (s *Store) redactEntry(ctx context.Context, room string, index int64) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.t.Messages),
		Key:                       map[string]types.AttributeValue{attrRoom: avS(room), attrIndex: avN(index)},
		UpdateExpression:          aws.String("REMOVE #b SET #d = :t"),
		ConditionExpression:       aws.String("attribute_exists(#i)"),
		ExpressionAttributeNames:  names("#b", attrBody, "#d", attrDeleted, "#i", attrIndex),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if isConditionFailed(err) {
		return nil // gone (expired): nothing left to remove
	}
	return mapErr("redact", err)
}

func cloneEntry(m tripsense.Message) tripsense.Message {
	m.Reactions = slices.Clone(m.Reactions)
	m.Edits = slices.Clone(m.Edits)
	return m
}

func ptrIf(m *tripsense.Message, ok bool) *tripsense.Message {
	if !ok {
		return nil
	}
	return m
}

// Oldest returns 1: this store keeps every entry (retention on AWS is not
// built yet, see docs/dynamodb.md).
func (s *Store) Oldest(ctx context.Context, room string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return 1, nil
}

// Prune removes nothing and returns 0: this store keeps every entry
// (retention on AWS is not built yet, see docs/dynamodb.md).
func (s *Store) Prune(ctx context.Context, _ time.Time, _ int) (int, error) {
	return 0, ctx.Err()
}

// EraseUser removes user's data. It is the one Scan of the store: the
// messages table is read once (paged, only items of user that still have
// a body), and each message and edit body of user is removed
// (redactEntry). Then the user's memberships, delivered cursors and read
// cursors are deleted, each item by its own key, whatever its sort key.
func (s *Store) EraseUser(ctx context.Context, user string) (tripsense.Erasure, error) {
	var e tripsense.Erasure
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Scan(ctx, &dynamodb.ScanInput{
			TableName:                aws.String(s.t.Messages),
			FilterExpression:         aws.String("#u = :u AND attribute_exists(#b) AND (attribute_not_exists(#k) OR #k = :edit)"),
			ProjectionExpression:     aws.String("#r, #i"),
			ExpressionAttributeNames: names("#u", attrUserID, "#b", attrBody, "#k", attrKind, "#r", attrRoom, "#i", attrIndex),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":u": avS(user), ":edit": avS(tripsense.KindEdit),
			},
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return tripsense.Erasure{}, mapErr("erase user", err)
		}
		for _, item := range out.Items {
			if err := s.redactEntry(ctx, getS(item, attrRoom), getN(item, attrIndex)); err != nil {
				return tripsense.Erasure{}, err
			}
			e.Messages++
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	var err error
	if e.Memberships, err = s.deleteUserItems(ctx, s.t.UserRoom, user); err != nil {
		return tripsense.Erasure{}, err
	}
	if e.Cursors, err = s.deleteUserItems(ctx, s.t.ReadCursors, user); err != nil {
		return tripsense.Erasure{}, err
	}
	named, err := s.deleteNamedDeviceCursors(ctx, user)
	if err != nil {
		return tripsense.Erasure{}, err
	}
	e.Cursors += named
	if e.ReadCursors, err = s.deleteUserItems(ctx, s.t.ReadReceipts, user); err != nil {
		return tripsense.Erasure{}, err
	}
	return e, nil
}

// deleteNamedDeviceCursors deletes the delivered cursors of user's named
// devices, whose hash key is tripsense.DeviceKey "user#device": the device
// ids are not recorded anywhere else, so this scans the table (erasure is
// rare and admin-only, like the Scan of the log above).
func (s *Store) deleteNamedDeviceCursors(ctx context.Context, user string) (int, error) {
	var keys []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Scan(ctx, &dynamodb.ScanInput{
			TableName:                 aws.String(s.t.ReadCursors),
			FilterExpression:          aws.String("begins_with(#u, :p)"),
			ProjectionExpression:      aws.String("#u, #r"),
			ExpressionAttributeNames:  names("#u", attrUserID, "#r", attrRoom),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": avS(user + "#")},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return 0, mapErr("erase user", err)
		}
		for _, item := range out.Items {
			if tripsense.OfUser(getS(item, attrUserID), user) {
				keys = append(keys, map[string]types.AttributeValue{attrUserID: item[attrUserID], attrRoom: item[attrRoom]})
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	n := 0
	for _, key := range keys {
		out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.t.ReadCursors), Key: key, ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			return n, mapErr("erase user", err)
		}
		if len(out.Attributes) > 0 {
			n++
		}
	}
	return n, nil
}

// deleteUserItems deletes every item of table whose hash key userId is
// user (the key is taken from each item, so any sort key works) and
// returns how many it deleted.
func (s *Store) deleteUserItems(ctx context.Context, table, user string) (int, error) {
	var keys []map[string]types.AttributeValue
	err := queryAll(ctx, s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  names("#u", attrUserID),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": avS(user)},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) {
		keys = append(keys, item)
	})
	if err != nil {
		return 0, mapErr("erase user", err)
	}
	n := 0
	for _, item := range keys {
		key := map[string]types.AttributeValue{attrUserID: item[attrUserID]}
		for _, ts := range TableSpecs() {
			if table == s.t.Name(ts.Base) && ts.Range.Name != "" {
				key[ts.Range.Name] = item[ts.Range.Name]
			}
		}
		out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key, ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			return n, mapErr("erase user", err)
		}
		if len(out.Attributes) > 0 {
			n++
		}
	}
	return n, nil
}

package dynamo

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

// Append stores m with the room's next index.
//
// The index is allocated without a counter: Append reads the head (a
// strongly consistent Query, newest first, Limit 1) and writes the message
// at head+1 with the condition attribute_not_exists(index). A message is
// only ever written at k when k-1 was seen to exist, so indexes have no
// gaps; the condition makes each index taken once. A loser of the race
// re-reads the head and tries again, at most cfg.MaxAppendAttempts times.
// Within one Store, Appends to one room take turns, so the race is only
// between processes. The cost is constant: 2 calls (3 with a clientMsgId)
// whatever the size of the room, plus 2 per lost race.
//
// With a ClientMsgID, Append first claims a dedupe record (room,
// userId#clientMsgId) that names the index it is about to write; see
// appendOnce for why that is safe when a process dies between the two
// writes. A zero CreateTime is set to now; CreateTime is kept at
// millisecond precision in UTC.
func (s *Store) Append(ctx context.Context, nm tripsense.NewMessage) (tripsense.Message, bool, error) {
	if nm.Room == "" || nm.UserID == "" {
		return tripsense.Message{}, false, tripsense.Errorf(tripsense.EINVALID, "room and user are required")
	}
	now := s.cfg.Now()
	ct := nm.CreateTime
	if ct.IsZero() {
		ct = now
	}
	msg := tripsense.Message{
		Room:        nm.Room,
		UserID:      nm.UserID,
		Body:        nm.Body,
		Type:        nm.Type,
		CreateTime:  ct.UTC().Truncate(time.Millisecond),
		ClientMsgID: nm.ClientMsgID,
		Kind:        nm.Kind,
		Target:      nm.Target,
		ReplyTo:     nm.ReplyTo,
		Reaction:    nm.Reaction,
		Remove:      nm.Remove,
	}
	leave, err := s.gates.enter(ctx, msg.Room)
	if err != nil {
		return tripsense.Message{}, false, mapErr("append", err)
	}
	defer leave()
	if nm.Kind != "" || nm.ReplyTo > 0 {
		return s.appendDecided(ctx, &nm, msg, now)
	}
	return s.appendEntry(ctx, msg, now)
}

// appendEntry stores msg at the room's next index, at most once when it
// has a clientMsgId.
func (s *Store) appendEntry(ctx context.Context, msg tripsense.Message, now time.Time) (tripsense.Message, bool, error) {
	if msg.ClientMsgID == "" {
		return s.appendNew(ctx, msg)
	}
	return s.appendOnce(ctx, msg, now)
}

// appendNew stores msg (no clientMsgId) at the room's next free index.
func (s *Store) appendNew(ctx context.Context, msg tripsense.Message) (tripsense.Message, bool, error) {
	head, err := s.head(ctx, msg.Room)
	if err != nil {
		return tripsense.Message{}, false, mapErr("append", err)
	}
	slot := head + 1
	for attempt := 1; ; attempt++ {
		err := s.putMessage(ctx, msg, slot)
		if err == nil {
			msg.Index = slot
			return msg, false, nil
		}
		if !isConditionFailed(err) {
			return tripsense.Message{}, false, mapErr("append", err)
		}
		// slot exists now, so slot+1 is a valid next try; the head may be further.
		if slot, err = s.nextSlot(ctx, msg.Room, slot, attempt); err != nil {
			return tripsense.Message{}, false, err
		}
	}
}

// nextSlot is called after losing the race for slot: it pauses, re-reads the
// head and returns the next index to try, or ECONFLICT when the attempts
// are used up.
func (s *Store) nextSlot(ctx context.Context, room string, slot int64, attempt int) (int64, error) {
	if attempt >= s.cfg.MaxAppendAttempts {
		return 0, tripsense.Errorf(tripsense.ECONFLICT, "room %s is busy; retry the send (with the same clientMsgId)", room)
	}
	if err := pause(ctx, attempt, s.cfg.MaxBackoff); err != nil {
		return 0, mapErr("append", err)
	}
	head, err := s.head(ctx, room)
	if err != nil {
		return 0, mapErr("append", err)
	}
	return max(slot+1, head+1), nil
}

// appendOnce stores msg, which has a clientMsgId, at most once.
//
// Protocol (all single-item conditional writes):
//  1. Claim: put the dedupe record {index: head+1} if it does not exist (or
//     has expired). If it exists, adopt its index: an earlier attempt of the
//     same send (perhaps one that crashed, perhaps one still running) chose it.
//  2. Write the message at the claimed index with attribute_not_exists(index).
//  3. If that index is taken, read the message there. If it carries our
//     (userId, clientMsgId), an earlier attempt stored it: return it as a
//     duplicate. Otherwise another sender has it: move the claim to the new
//     head+1 with the condition "index = the old index" and go to 2.
//
// The claim only moves away from an index after that index was seen holding
// another message, and an index never becomes free again, so our message can
// be written only at the claim's current index: at most once. Every write is
// at an index whose predecessor was seen to exist, so no gap appears. A
// crash after step 1 leaves a claim without a message (no gap: messages are
// untouched); the retry adopts the claim and writes the message there, or
// moves on if someone else took the index meanwhile.
func (s *Store) appendOnce(ctx context.Context, msg tripsense.Message, now time.Time) (tripsense.Message, bool, error) {
	sender := dedupeSender(msg.UserID, msg.ClientMsgID)
	slot, claimed, err := s.claim(ctx, msg, sender, now)
	if err != nil {
		return tripsense.Message{}, false, err
	}
	check := !claimed // an adopted claim may already hold our message
	for attempt := 1; ; attempt++ {
		if check {
			got, found, err := s.getMessage(ctx, msg.Room, slot)
			if err != nil {
				return tripsense.Message{}, false, mapErr("append", err)
			}
			if found && got.UserID == msg.UserID && got.ClientMsgID == msg.ClientMsgID {
				return got, true, nil
			}
			if found {
				var moved bool
				if slot, moved, err = s.moveClaim(ctx, msg, sender, slot, now, attempt); err != nil {
					return tripsense.Message{}, false, err
				}
				// A claim another attempt of this send moved may already hold
				// our message; one we moved ourselves is fresh.
				check = !moved
				continue
			}
		}
		err := s.putMessage(ctx, msg, slot)
		if err == nil {
			msg.Index = slot
			return msg, false, nil
		}
		if !isConditionFailed(err) {
			return tripsense.Message{}, false, mapErr("append", err)
		}
		check = true
		if attempt >= s.cfg.MaxAppendAttempts {
			return tripsense.Message{}, false, tripsense.Errorf(tripsense.ECONFLICT, "room %s is busy; retry the send (with the same clientMsgId)", msg.Room)
		}
	}
}

// dedupeSender is the dedupe record's sort key. User ids cannot contain '#'
// (tripsense.ValidID), so the split is unambiguous.
func dedupeSender(user, clientMsgID string) string { return user + "#" + clientMsgID }

// claim creates the dedupe record for msg at head+1 and returns that index
// with claimed true, or returns the index of the live record that exists.
func (s *Store) claim(ctx context.Context, msg tripsense.Message, sender string, now time.Time) (int64, bool, error) {
	for attempt := 1; ; attempt++ {
		head, err := s.head(ctx, msg.Room)
		if err != nil {
			return 0, false, mapErr("append", err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.t.Dedupe),
			Item: map[string]types.AttributeValue{
				attrRoom:        avS(msg.Room),
				attrSender:      avS(sender),
				attrUserID:      avS(msg.UserID),
				attrClientMsgID: avS(msg.ClientMsgID),
				attrIndex:       avN(head + 1),
				attrClaimedAt:   avTime(now),
				attrExpiresAt:   avN(now.Add(tripsense.DedupeTTL).Unix()),
			},
			ConditionExpression:       aws.String("attribute_not_exists(#s) OR #e < :now"),
			ExpressionAttributeNames:  names("#s", attrSender, "#e", attrExpiresAt),
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(now.Unix())},
		})
		if err == nil {
			return head + 1, true, nil
		}
		if !isConditionFailed(err) {
			return 0, false, mapErr("append", err)
		}
		idx, found, err := s.claimedIndex(ctx, msg.Room, sender, now)
		if err != nil {
			return 0, false, err
		}
		if found {
			return idx, false, nil
		}
		// The record expired or vanished between the two calls: claim again.
		if attempt >= s.cfg.MaxAppendAttempts {
			return 0, false, tripsense.Errorf(tripsense.ECONFLICT, "room %s is busy; retry the send", msg.Room)
		}
	}
}

// claimedIndex reads the live dedupe record of sender.
func (s *Store) claimedIndex(ctx context.Context, room, sender string, now time.Time) (int64, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.t.Dedupe),
		Key:                      map[string]types.AttributeValue{attrRoom: avS(room), attrSender: avS(sender)},
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#i, #e"),
		ExpressionAttributeNames: names("#i", attrIndex, "#e", attrExpiresAt),
	})
	if err != nil {
		return 0, false, mapErr("append", err)
	}
	if out.Item == nil || getN(out.Item, attrExpiresAt) < now.Unix() {
		return 0, false, nil
	}
	return getN(out.Item, attrIndex), true, nil
}

// moveClaim moves the dedupe record from slot (which holds another
// sender's message) to the next index to try, with the condition that it
// still names slot. If another attempt of the same send moved it first, it
// returns where that attempt moved it, with moved false.
func (s *Store) moveClaim(ctx context.Context, msg tripsense.Message, sender string, slot int64, now time.Time, attempt int) (int64, bool, error) {
	next, err := s.nextSlot(ctx, msg.Room, slot, attempt)
	if err != nil {
		return 0, false, err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.t.Dedupe),
		Key:                      map[string]types.AttributeValue{attrRoom: avS(msg.Room), attrSender: avS(sender)},
		UpdateExpression:         aws.String("SET #i = :next"),
		ConditionExpression:      aws.String("#i = :slot"),
		ExpressionAttributeNames: names("#i", attrIndex),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next": avN(next), ":slot": avN(slot),
		},
	})
	if err == nil {
		return next, true, nil
	}
	if !isConditionFailed(err) {
		return 0, false, mapErr("append", err)
	}
	idx, found, err := s.claimedIndex(ctx, msg.Room, sender, now)
	if err != nil {
		return 0, false, err
	}
	if !found {
		// Expired under us (a send older than DedupeTTL): start a fresh claim.
		idx, _, err = s.claim(ctx, msg, sender, now)
	}
	return idx, false, err
}

// putMessage writes msg at index if that index is free.
func (s *Store) putMessage(ctx context.Context, msg tripsense.Message, index int64) error {
	item := map[string]types.AttributeValue{
		attrRoom:       avS(msg.Room),
		attrIndex:      avN(index),
		attrUserID:     avS(msg.UserID),
		attrBody:       avS(msg.Body),
		attrType:       avS(msg.Type),
		attrCreateTime: avTime(msg.CreateTime),
	}
	if msg.ClientMsgID != "" {
		item[attrClientMsgID] = avS(msg.ClientMsgID)
	}
	putLifecycle(item, &msg)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.t.Messages),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#i)"),
		ExpressionAttributeNames: names("#i", attrIndex),
	})
	return err
}

// getMessage reads the message at index (strongly consistent).
func (s *Store) getMessage(ctx context.Context, room string, index int64) (tripsense.Message, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.t.Messages),
		Key:            map[string]types.AttributeValue{attrRoom: avS(room), attrIndex: avN(index)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		return tripsense.Message{}, false, err
	}
	return decodeMessage(out.Item), true, nil
}

func decodeMessage(item map[string]types.AttributeValue) tripsense.Message {
	m := tripsense.Message{
		Room:        getS(item, attrRoom),
		Index:       getN(item, attrIndex),
		UserID:      getS(item, attrUserID),
		Body:        getS(item, attrBody),
		Type:        getS(item, attrType),
		CreateTime:  getTime(item, attrCreateTime),
		ClientMsgID: getS(item, attrClientMsgID),
	}
	getLifecycle(item, &m)
	return m
}

// Head returns the highest index of room, 0 when the room has no messages:
// one strongly consistent Query, newest first, Limit 1.
func (s *Store) Head(ctx context.Context, room string) (int64, error) {
	head, err := s.head(ctx, room)
	return head, mapErr("head", err)
}

func (s *Store) head(ctx context.Context, room string) (int64, error) {
	return s.readHead(ctx, room, true)
}

// headAtLeast returns a head h of room with min(want, h) = min(want, true
// head), for clamping want to the head. It reads eventually consistently
// first (half the price; a replica can only lag, so its head is lower or
// equal) and only when that head is below want reads again strongly
// consistently. want <= 0 needs no read.
func (s *Store) headAtLeast(ctx context.Context, room string, want int64) (int64, error) {
	if want <= 0 {
		return 0, nil
	}
	h, err := s.readHead(ctx, room, false)
	if err != nil || h >= want {
		return h, err
	}
	return s.readHead(ctx, room, true)
}

func (s *Store) readHead(ctx context.Context, room string, consistent bool) (int64, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.t.Messages),
		KeyConditionExpression:    aws.String("#r = :r"),
		ExpressionAttributeNames:  names("#r", attrRoom, "#i", attrIndex),
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": avS(room)},
		ProjectionExpression:      aws.String("#i"),
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ConsistentRead:            aws.Bool(consistent),
	})
	if err != nil {
		return 0, err
	}
	if len(out.Items) == 0 {
		return 0, nil
	}
	return getN(out.Items[0], attrIndex), nil
}

// MessagesAfter returns up to limit messages of room with index > after,
// in ascending order: a strongly consistent Query on the key range, paged
// by DynamoDB's 1 MB limit until limit messages are read. The caller pages
// by message index, so no LastEvaluatedKey leaves the store.
func (s *Store) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	msgs, err := s.queryMessages(ctx, room, "#r = :r AND #i > :b", max(after, 0), true, limit)
	return msgs, mapErr("messages after", err)
}

// MessagesBefore returns up to limit messages of room with index < before
// (the newest ones below it), in ascending order.
func (s *Store) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, error) {
	if limit <= 0 || before <= 1 {
		return nil, nil
	}
	msgs, err := s.queryMessages(ctx, room, "#r = :r AND #i < :b", before, false, limit)
	if err != nil {
		return nil, mapErr("messages before", err)
	}
	slices.Reverse(msgs)
	return msgs, nil
}

func (s *Store) queryMessages(ctx context.Context, room, cond string, bound int64, forward bool, limit int) ([]tripsense.Message, error) {
	var (
		out   []tripsense.Message
		start map[string]types.AttributeValue
	)
	for len(out) < limit {
		page, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.t.Messages),
			KeyConditionExpression:   aws.String(cond),
			ExpressionAttributeNames: names("#r", attrRoom, "#i", attrIndex),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":r": avS(room), ":b": &types.AttributeValueMemberN{Value: strconv.FormatInt(bound, 10)},
			},
			ScanIndexForward:  aws.Bool(forward),
			Limit:             aws.Int32(int32(min(limit-len(out), 1<<30))),
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make([]tripsense.Message, 0, min(limit, len(page.Items)+16))
		}
		for _, item := range page.Items {
			out = append(out, decodeMessage(item))
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	return out, nil
}

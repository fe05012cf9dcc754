package test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws"
)

// lifecycleFrame is an editMessage, deleteMessage or react frame.
func lifecycleFrame(action, room string, index int64, extra string) string {
	return fmt.Sprintf(`{"action":%q,"chatroomId":%q,"index":%d%s}`, action, room, index, extra)
}

// historyLast returns the newest message of room's history for tok.
func awsHistoryLast(t *testing.T, s *awsStack, tok, room string) map[string]any {
	t.Helper()
	status, body := s.http("GET", "/v1/rooms/"+room+"/messages", "after=0", tok, "")
	if status != 200 {
		t.Fatalf("history: %d %v", status, body)
	}
	msgs := body["messages"].([]any)
	for _, e := range msgs {
		if k := e.(map[string]any)["kind"]; k != "message" {
			t.Fatalf("history holds an event: %v", e)
		}
	}
	return msgs[len(msgs)-1].(map[string]any)
}

// checkLifecycleEntries checks that entries (catch-up, in index order) are
// the message, its edit and the reaction.
func checkLifecycleEntries(t *testing.T, what string, entries []any, idx int64, final string) {
	t.Helper()
	if len(entries) != 3 {
		t.Fatalf("%s: %d entries, want 3: %v", what, len(entries), entries)
	}
	e := func(i int) map[string]any { return entries[i].(map[string]any) }
	x := float64(idx)
	if e(0)["kind"] != "message" || e(0)["index"] != x ||
		e(1)["kind"] != "edit" || e(1)["index"] != x+1 || e(1)["target"] != x || e(1)["chatMessage"] != final ||
		e(2)["kind"] != "reaction" || e(2)["index"] != x+2 || e(2)["target"] != x || e(2)["reaction"] != "👍" {
		t.Fatalf("%s: %v", what, entries)
	}
}

// TestAWSLifecycleEndToEnd is the scenario on the AWS runtime
// (gateway stand-in, both functions, dynalite): alice sends, edits and
// reacts while bob is offline; bob's catch-up over HTTP and over the
// WebSocket has the message, the edit and the reaction in order with their
// kind, his history the edited text with one reaction; a non-author edit is
// refused; alice deletes (a tombstone, the texts gone from the table); an
// admin deletes another's message, and stops being able to once the
// connection's token is refreshed with one that is not an admin's; erasure
// over the HTTP API function leaves no body of the user.
func TestAWSLifecycleEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newAWSStack(t)
	const room = "uuidroom2"
	if err := s.store.AddMember(ctx, room, "ops"); err != nil {
		t.Fatal(err)
	}
	alice := s.dial("uuid1")
	draft, final := "first draft 8c1e", "final text 4d2a"
	idx := mustSend(t, alice, room, draft)
	alice.Send(lifecycleFrame("editMessage", room, idx, fmt.Sprintf(`,"chatMessage":%q,"clientMsgId":"edit-1"`, final)))
	if a := alice.NextOfType("ack"); a["index"] != float64(idx+1) {
		t.Fatalf("edit ack %v", a)
	}
	alice.Send(lifecycleFrame("react", room, idx, `,"reaction":"👍","clientMsgId":"react-1"`))
	if a := alice.NextOfType("ack"); a["index"] != float64(idx+2) {
		t.Fatalf("reaction ack %v", a)
	}

	// Bob was offline the whole time: HTTP catch-up from his cursor.
	bobTok := s.token("uuid2", false)
	status, body := s.http("GET", "/v1/sync", "", bobTok, "")
	if status != 200 {
		t.Fatalf("sync: %d %v", status, body)
	}
	var entries []any
	for _, r := range body["rooms"].([]any) {
		if r := r.(map[string]any); r["chatroomId"] == room {
			entries = r["messages"].([]any)
		}
	}
	checkLifecycleEntries(t, "HTTP catch-up", entries, idx, final)
	m := awsHistoryLast(t, s, bobTok, room)
	if m["index"] != float64(idx) || m["chatMessage"] != final || m["edited"] != true ||
		m["reactions"].(map[string]any)["👍"] != float64(1) || len(m["reactions"].(map[string]any)) != 1 {
		t.Fatalf("history: %v", m)
	}

	// The same over the WebSocket.
	bob := s.dial("uuid2")
	bob.Send(`{"action":"sync"}`)
	batch := bob.NextOfType("messages")
	if batch["chatroomId"] != room {
		t.Fatalf("first batch %v", batch)
	}
	checkLifecycleEntries(t, "WebSocket catch-up", batch["messages"].([]any), idx, final)
	for f := bob.Next(); f["type"] != "syncDone"; f = bob.Next() {
		if f["type"] != "synced" {
			t.Fatalf("during the sync: %v", f)
		}
	}

	bob.Send(lifecycleFrame("editMessage", room, idx, `,"chatMessage":"bob was here"`))
	if e := bob.NextOfType("error"); e["code"] != "forbidden" {
		t.Fatalf("non-author edit: %v", e)
	}
	alice.Send(lifecycleFrame("deleteMessage", room, idx, `,"clientMsgId":"del-1"`))
	alice.NextOfType("ack")
	if d := bob.NextOfType("delete"); d["target"] != float64(idx) || d["userId"] != "uuid1" {
		t.Fatalf("live delete frame: %v", d)
	}
	m = awsHistoryLast(t, s, bobTok, room)
	if _, has := m["chatMessage"]; has || m["deleted"] != true || m["deletedBy"] != "uuid1" {
		t.Fatalf("tombstone: %v", m)
	}
	noBodyHolds(t, s, room, draft, final)

	// An admin's connection deletes bob's message; after a refresh with a
	// token without the admin claim it may not any more, and with an
	// admin's token again it may.
	spam := mustSend(t, bob, room, "bob spam 77aa")
	spam2 := mustSend(t, bob, room, "bob spam 88bb")
	ops := gateway.Dial(t, s.gw, "token="+s.token("ops", true))
	ops.Send(lifecycleFrame("deleteMessage", room, spam, `,"clientMsgId":"mod-1"`))
	if a := ops.NextOfType("ack"); a["chatroomId"] != room {
		t.Fatalf("admin's delete: %v", a)
	}
	m = awsHistoryLast(t, s, bobTok, room)
	if m["index"] != float64(spam2) {
		t.Fatalf("newest history entry %v", m)
	}
	status, body = s.http("GET", "/v1/rooms/"+room+"/messages", fmt.Sprintf("after=%d", spam-1), bobTok, "")
	if first := body["messages"].([]any)[0].(map[string]any); status != 200 || first["deleted"] != true || first["deletedBy"] != "ops" {
		t.Fatalf("after the admin's delete: %d %v", status, body)
	}
	ops.Send(`{"action":"auth","token":"` + s.token("ops", false) + `"}`)
	ops.NextOfType("authed")
	ops.Send(lifecycleFrame("deleteMessage", room, spam2, `,"clientMsgId":"mod-2"`))
	if e := ops.NextOfType("error"); e["code"] != "forbidden" {
		t.Fatalf("delete after the admin claim was dropped: %v", e)
	}
	ops.Send(`{"action":"auth","token":"` + s.token("ops", true) + `"}`)
	ops.NextOfType("authed")
	ops.Send(lifecycleFrame("deleteMessage", room, spam2, `,"clientMsgId":"mod-3"`))
	if a := ops.NextOfType("ack"); a["chatroomId"] != room {
		t.Fatalf("admin's delete after the refresh: %v", a)
	}

	// Erasure of alice through the HTTP API function. (Her connection
	// received the frames above; a new one starts clean.)
	alice.Close()
	alice = s.dial("uuid1")
	for _, r := range []string{"uuidroom1", room} {
		mustSend(t, alice, r, "alice secret 9e9e in "+r)
	}
	if status, _ := s.http("DELETE", "/v1/users/uuid1", "", bobTok, ""); status != 403 {
		t.Fatalf("erasure by a non-admin: %d", status)
	}
	status, body = s.http("DELETE", "/v1/users/uuid1", "", s.token("ops", true), "")
	erased, _ := body["erased"].(map[string]any)
	if status != 200 || erased["messages"] != float64(2) || erased["memberships"] != float64(2) {
		t.Fatalf("erasure: %d %v", status, body)
	}
	alice.WaitGone()
	for _, r := range []string{"uuidroom1", room} {
		all, err := s.store.MessagesAfter(ctx, r, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if e.UserID == "uuid1" && e.Body != "" {
				t.Fatalf("a body of the erased user is stored: %+v", e)
			}
		}
	}
	if status, body = s.http("DELETE", "/v1/users/uuid1", "", s.token("ops", true), ""); status != 200 || body["erased"].(map[string]any)["messages"] != float64(0) {
		t.Fatalf("second erasure: %d %v", status, body)
	}
}

// noBodyHolds fails when an entry of room stored in DynamoDB still holds
// one of texts (a deleted message and its edits lose their bodies).
func noBodyHolds(t *testing.T, s *awsStack, room string, texts ...string) {
	t.Helper()
	all, err := s.store.MessagesAfter(context.Background(), room, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		for _, x := range texts {
			if e.Body == x {
				t.Fatalf("%q is still stored at %d", x, e.Index)
			}
		}
	}
}

// TestAWSRetentionEndToEnd: with TRIPSENSE_RETENTION (dynamo.Config.Retention)
// a catch-up from a cursor older than the oldest kept index answers the
// room with truncated and oldest, over HTTP and the WebSocket, and history
// says so at the edge; both while the expired entries are still stored
// (reads ignore them) and after TTL deleted them (dynalite has no TTL: the
// test deletes what TTL would). The newest entry is never deleted, so the
// next message takes the next index.
func TestAWSRetentionEndToEnd(t *testing.T) {
	t.Parallel()
	const room, retention = "uuidroom2", 10 * time.Minute
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := newAWSStackConfig(t, 0, dynamo.Config{Retention: retention, Now: now})
	s.wsOptions = append(s.wsOptions, func(svc *ws.Service) { svc.Now = now }) // one clock stamps and expires
	alice := s.dial("uuid1")
	for i := range 3 {
		mustSend(t, alice, room, fmt.Sprintf("soon gone %d", i))
	}
	bobTok := s.token("uuid2", false)
	syncRoom := func() map[string]any {
		t.Helper()
		status, body := s.http("GET", "/v1/sync", "after="+room+":0", bobTok, "")
		if status != 200 {
			t.Fatalf("sync: %d %v", status, body)
		}
		for _, r := range body["rooms"].([]any) {
			if r := r.(map[string]any); r["chatroomId"] == room {
				return r
			}
		}
		t.Fatalf("no %s in %v", room, body)
		return nil
	}
	if r := syncRoom(); r["truncated"] == true || len(r["messages"].([]any)) != 3 {
		t.Fatalf("before the retention: %v", r)
	}
	offset.Store(int64(retention + time.Minute))
	for _, swept := range []bool{false, true} {
		if swept {
			if n := sweepExpiredItems(t, s, s.prefix+dynamo.BaseMessages, now()); n != 2 {
				t.Fatalf("TTL would delete %d entries, want 2 (not the newest)", n)
			}
		}
		if r := syncRoom(); r["truncated"] != true || r["oldest"] != float64(4) || r["head"] != float64(3) || len(r["messages"].([]any)) != 0 {
			t.Fatalf("swept=%v: truncated room: %v", swept, r)
		}
	}
	if i := mustSend(t, alice, room, "fresh"); i != 4 {
		t.Fatalf("next index after the retention = %d, want 4", i)
	}
	r := syncRoom()
	if msgs := r["messages"].([]any); r["truncated"] != true || r["oldest"] != float64(4) || len(msgs) != 1 || msgs[0].(map[string]any)["chatMessage"] != "fresh" {
		t.Fatalf("after a new message: %v", r)
	}
	status, h := s.http("GET", "/v1/rooms/"+room+"/messages", "after=0", bobTok, "")
	if status != 200 || h["truncated"] != true || len(h["messages"].([]any)) != 1 {
		t.Fatalf("history at the retention edge: %d %v", status, h)
	}
	bob := s.dial("uuid2")
	bob.Send(`{"action":"sync"}`)
	var synced map[string]any
	for f := bob.Next(); f["type"] != "syncDone"; f = bob.Next() {
		if f["type"] == "synced" && f["chatroomId"] == room {
			synced = f
		}
	}
	if synced["truncated"] != true || synced["oldest"] != float64(4) {
		t.Fatalf("WebSocket synced frame: %v", synced)
	}
}

// sweepExpiredItems does what DynamoDB TTL does to table, at once: it
// deletes every item whose expiresAt (epoch seconds) is before now, and
// returns how many.
func sweepExpiredItems(t *testing.T, s *awsStack, table string, now time.Time) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := newDynamoClient(s.endpoint, nil, nil)
	out, err := db.Scan(ctx, &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		FilterExpression:          aws.String("#e < :now"),
		ExpressionAttributeNames:  map[string]string{"#e": "expiresAt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil || len(out.LastEvaluatedKey) > 0 {
		t.Fatalf("sweep %s: %v (or more than a page)", table, err)
	}
	for _, item := range out.Items {
		if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"room": item["room"], "index": item["index"]}}); err != nil {
			t.Fatal(err)
		}
	}
	return len(out.Items)
}

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense/webhook"
	webhookstream "github.com/tripsense/tripsense/webhook/stream"
	"github.com/tripsense/tripsense/webhook/webhooktest"
)

// TestAWSRoomsHTTPSendAndWebhook is the single binary's end-to-end on the
// AWS stand-in: a user creates a room with two members (metadata in
// DynamoDB) and lists them; alice sends over the HTTP API and a retry is a
// duplicate; bob, online through the gateway, receives it live; the webhook
// consumer, handed the stream record of the new entry (dynalite has no
// streams), sends a verified message.created with carol offline.
func TestAWSRoomsHTTPSendAndWebhook(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	alice := s.token("alice", false)
	if status, b := s.http("POST", "/v1/rooms", "", alice, `{"chatroomId":"trip","name":"Rome","members":["bob","carol"]}`); status != 201 || b["createdBy"] != "alice" {
		t.Fatalf("create: %d %v", status, b)
	}
	status, b := s.http("GET", "/v1/rooms/trip/members", "", s.token("carol", false), "")
	if got := fmt.Sprint(b["members"]); status != 200 || got != "[map[role:owner userId:alice] map[role:member userId:bob] map[role:member userId:carol]]" {
		t.Fatalf("members: %d %v", status, b)
	}
	if status, b := s.http("PATCH", "/v1/rooms/trip", "", s.token("bob", false), `{"name":"mine"}`); status != 403 {
		t.Fatalf("rename as member: %d %v", status, b)
	}
	bob := s.dial("bob")
	body := `{"chatMessage":"hello","messageType":"text message","clientMsgId":"m1"}`
	if status, b := s.http("POST", "/v1/rooms/trip/messages", "", alice, body); status != 201 || b["index"] != float64(4) {
		t.Fatalf("send: %d %v", status, b)
	}
	if status, b := s.http("POST", "/v1/rooms/trip/messages", "", alice, body); status != 200 || b["duplicate"] != true || b["index"] != float64(4) {
		t.Fatalf("retry: %d %v", status, b)
	}
	mustMessage(t, bob, "trip", "hello", 4)
	bob.ExpectNone()

	rcv := webhooktest.NewReceiver(t)
	snd, err := webhook.NewSender(rcv.URL, webhooktest.Secret, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &webhookstream.Handler{Source: s.store, Online: s.presence, Sender: snd}
	resp, err := h.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{EventName: "INSERT",
		Change: events.DynamoDBStreamRecord{SequenceNumber: "1", Keys: map[string]events.DynamoDBAttributeValue{
			"room": events.NewStringAttribute("trip"), "index": events.NewNumberAttribute("4")}}}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%+v %v", resp, err)
	}
	g := rcv.Take()
	if len(g) != 1 || g[0].Err != nil || g[0].Header.Get("webhook-id") != "evt_trip_4" {
		t.Fatalf("deliveries %+v", g)
	}
	var ev struct {
		Type string
		Data struct{ OfflineMembers []string }
	}
	if err := json.Unmarshal(g[0].Body, &ev); err != nil || ev.Type != "message.created" || strings.Join(ev.Data.OfflineMembers, ",") != "carol" {
		t.Fatalf("%s %v", g[0].Body, err)
	}

	// alice hands the room to bob (the owner in DynamoDB's room item):
	// bob, online through the gateway, gets the owner entry live, and
	// manages the room from then on; alice no longer does.
	if status, b := s.http("PATCH", "/v1/rooms/trip", "", alice, `{"owner":"dave"}`); status != 409 {
		t.Fatalf("hand to a non-member: %d %v", status, b)
	}
	if status, b := s.http("PATCH", "/v1/rooms/trip", "", alice, `{"owner":"bob"}`); status != 200 || b["owner"] != "bob" || b["createdBy"] != "alice" {
		t.Fatalf("hand to bob: %d %v", status, b)
	}
	if f := bob.NextOfType("member"); f["event"] != "owner" || f["userId"] != "bob" || f["by"] != "alice" || f["index"] != float64(5) {
		t.Fatalf("owner frame: %v", f)
	}
	if status, b := s.http("PATCH", "/v1/rooms/trip", "", alice, `{"name":"mine"}`); status != 403 {
		t.Fatalf("the old owner renames: %d %v", status, b)
	}
	if status, b := s.http("PATCH", "/v1/rooms/trip", "", s.token("bob", false), `{"name":"Rome 2027"}`); status != 200 || b["owner"] != "bob" {
		t.Fatalf("the new owner renames: %d %v", status, b)
	}
	status, b = s.http("GET", "/v1/rooms/trip/members", "", alice, "")
	if got := fmt.Sprint(b["members"]); status != 200 || got != "[map[role:member userId:alice] map[role:owner userId:bob] map[role:member userId:carol]]" {
		t.Fatalf("members after the hand-over: %d %v", status, b)
	}
}

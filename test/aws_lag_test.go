package test

// Presence decisions through the gateway stand-in while DynamoDB's global
// secondary indexes lag (newAWSStackLagged): the shapes that failed on AWS
// when user -> connections was read from the byUser index. The same
// scenarios with several ws.Service instances and a recording pusher are in
// aws_presence_test.go; these run the deployed path end to end: the gateway's
// pool of WebSocket-function instances, the HTTP API function for the
// membership change, and real posts to @connections.

import (
	"context"
	"testing"
	"time"

	"github.com/tripsense/tripsense/test/gateway"
)

const awsIndexLag = 300 * time.Millisecond

// TestAWSLaggedRemovalRightAfterConnect: a member removed right after it
// connected (well inside the index lag) gets its left frame and then nothing
// more of the room.
func TestAWSLaggedRemovalRightAfterConnect(t *testing.T) {
	t.Parallel()
	s := newAWSStackLagged(t, awsIndexLag)
	u1, u2 := s.dial("uuid1"), s.dial("uuid2")
	if status, body := s.http("DELETE", "/v1/rooms/uuidroom2/members/uuid2", "", s.token("admin", true), ""); status/100 != 2 {
		t.Fatalf("remove: %d %v", status, body)
	}
	for _, c := range []*gateway.Client{u2, u1} { // the removed user and the room's other member
		if f := c.NextOfType("member"); f["event"] != "left" || f["chatroomId"] != "uuidroom2" || f["userId"] != "uuid2" {
			t.Fatalf("member frame %v, want uuid2 left uuidroom2", f)
		}
	}
	mustSend(t, u1, "uuidroom2", "after the removal")
	u2.ExpectNone()
}

// TestAWSLaggedReplaceRightAfterConnect: a second connection of the same
// user (and device) right after the first replaces it: the first is closed
// with 4000 and only the second stays registered.
func TestAWSLaggedReplaceRightAfterConnect(t *testing.T) {
	t.Parallel()
	s := newAWSStackLagged(t, awsIndexLag)
	first := s.dial("uuid2")
	second := s.dial("uuid2")
	// API Gateway closes a deleted connection with a code of its own; the
	// close code comes first as a closing frame.
	if f := first.NextOfType("closing"); f["code"] != float64(4000) {
		t.Fatalf("closing frame %v, want code 4000", f)
	}
	closed, _ := first.Closed()
	select {
	case <-closed:
	case <-time.After(gateway.Wait):
		t.Fatal("the replaced connection is still open")
	}
	first.WaitGone()
	conns, err := s.presence.UserConnections(context.Background(), "uuid2")
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || conns[0].ID != second.ID {
		t.Fatalf("uuid2's connections %v, want only %s", conns, second.ID)
	}
	u1 := s.dial("uuid1")
	got := mustSend(t, u1, "uuidroom2", "to the second")
	mustMessage(t, second, "uuidroom2", "to the second", got)
}

package test

// Devices on the AWS runtime: the deviceId of the $connect query string,
// the per-device replace policy decided in DynamoDB, and per-device
// cursors in the readCursors table.

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tripsense/tripsense/test/gateway"
)

// dialDevice opens a WebSocket as user on device (token identity).
func (s *awsStack) dialDevice(user, device string) *gateway.Client {
	s.t.Helper()
	return gateway.Dial(s.t, s.gw, "token="+url.QueryEscape(s.token(user, false))+"&deviceId="+device)
}

func TestAWSDevices(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	ctx := context.Background()
	phone, tablet := s.dialDevice("uuid2", "phone"), s.dialDevice("uuid2", "tablet")
	u1 := s.dial("uuid1")

	// Both devices receive live.
	i := mustSend(t, u1, "uuidroom2", "m1")
	mustMessage(t, phone, "uuidroom2", "m1", i)
	mustMessage(t, tablet, "uuidroom2", "m1", i)

	// The same device reconnecting replaces its old connection only.
	phone2 := s.dialDevice("uuid2", "phone")
	closed, _ := phone.Closed()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the phone's old connection was not closed")
	}
	phone.WaitGone()
	conns, err := s.presence.UserConnections(ctx, "uuid2")
	if err != nil || len(conns) != 2 {
		t.Fatalf("uuid2 connections %+v, %v; want the tablet and the new phone", conns, err)
	}
	for _, c := range conns {
		if !(c.ID == tablet.ID && c.DeviceID == "tablet") && !(c.ID == phone2.ID && c.DeviceID == "phone") {
			t.Fatalf("unexpected connection %+v", c)
		}
	}
	tablet.ExpectNone()

	// The tablet goes offline; the phone receives 2..4.
	tablet.Close()
	for n := 2; n <= 4; n++ {
		i := mustSend(t, u1, "uuidroom2", fmt.Sprint("m", n))
		mustMessage(t, phone2, "uuidroom2", fmt.Sprint("m", n), i)
	}
	// The user reads the room on the phone: the read cursor (one per user
	// and room) moves, no device's delivered cursor but by the phone's own
	// watermark.
	phone2.Send(`{"action":"markRead","chatroomId":"uuidroom2","index":4}`)
	if c := phone2.NextOfType("cursor"); c["lastRead"] != float64(4) {
		t.Fatalf("markRead answered %v, want lastRead 4", c)
	}
	if rc, err := s.store.ReadCursor(ctx, "uuid2", "uuidroom2"); err != nil || rc.LastRead != 4 {
		t.Fatalf("read cursor = %+v, %v; want 4", rc, err)
	}
	phone2.Close()
	for device, want := range map[string]int64{"tablet": 1, "phone": 4, "": 0} {
		if cur, err := s.store.Cursor(ctx, "uuid2", device, "uuidroom2"); err != nil || cur.LastSeen != want {
			t.Fatalf("cursor of %q = %+v, %v; want %d", device, cur, err, want)
		}
	}

	// The tablet's HTTP sync returns exactly what it missed.
	tok := s.token("uuid2", false)
	status, body := s.http("GET", "/v1/sync", "deviceId=tablet", tok, "")
	if status != 200 {
		t.Fatalf("sync: %d %v", status, body)
	}
	if got := syncIndexes(t, body, "uuidroom2"); !slices.Equal(got, []float64{2, 3, 4}) {
		t.Fatalf("tablet's HTTP sync returned %v, want exactly 2, 3, 4", got)
	}
	if status, body := s.http("GET", "/v1/sync", "deviceId=phone", tok, ""); status != 200 || len(syncIndexes(t, body, "uuidroom2")) != 0 {
		t.Fatalf("phone's HTTP sync: %d %v, want nothing missed", status, body)
	}
	if status, body := s.http("GET", "/v1/sync", "deviceId=bad%20id", tok, ""); status != 400 {
		t.Fatalf("bad deviceId: %d %v, want 400", status, body)
	}

	// And so does its WebSocket sync after reconnecting.
	tablet = s.dialDevice("uuid2", "tablet")
	tablet.Send(`{"action":"sync"}`)
	if got := batchIndexes(t, tablet.NextOfType("messages"), "uuidroom2"); !slices.Equal(got, []int64{2, 3, 4}) {
		t.Fatalf("tablet's WebSocket sync pushed %v, want exactly 2, 3, 4", got)
	}
	if f := tablet.NextOfType("synced"); f["chatroomId"] != "uuidroom2" || f["head"] != float64(4) {
		t.Fatalf("synced %v", f)
	}
	tablet.NextOfType("synced") // uuidroom3
	tablet.NextOfType("syncDone")
	tablet.ExpectNone()

	// A bad deviceId is refused at $connect and replaces nothing.
	if _, status, err := gatewayDialStatus(s, "token="+url.QueryEscape(tok)+"&deviceId=bad%20id"); err == nil || status != 400 {
		t.Fatalf("bad deviceId at $connect: %d, %v; want 400", status, err)
	}
	tablet.ExpectNone()
}

package test

// Devices over real sockets against the binary: a user's phone and tablet
// connected at once, the same device reconnecting, and a tablet that was
// offline catching up exactly what it missed from its own cursor.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// mustDialDevice connects user on device (?userId=U&deviceId=D).
func mustDialDevice(t *testing.T, s *server, user, device string) *client {
	t.Helper()
	return mustDial(t, s, user+"&deviceId="+device)
}

// syncIndexes returns the indexes of room's messages in a GET /v1/sync
// answer.
func syncIndexes(t *testing.T, body map[string]any, room string) []float64 {
	t.Helper()
	out := []float64{}
	msgs, _ := roomOf(t, body, room)["messages"].([]any)
	for _, m := range msgs {
		out = append(out, m.(map[string]any)["index"].(float64))
	}
	return out
}

func TestPhoneAndTabletBothReceiveLive(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	phone := mustDialDevice(t, s, "uuid2", "phone")
	tablet := mustDialDevice(t, s, "uuid2", "tablet")
	u1 := mustDial(t, s, "uuid1")
	for i, body := range []string{"one", "two"} {
		u1.send(sendMsg("uuid1", "uuidroom2", body))
		u1.nextOfType("ack")
		for name, c := range map[string]*client{"phone": phone, "tablet": tablet} {
			if m := c.nextOfType("message"); m["chatMessage"] != body || m["index"] != float64(i+1) {
				t.Fatalf("%s got %v, want %q", name, m, body)
			}
		}
	}
	// A send from one device reaches the user's other device too.
	phone.send(sendMsg("uuid2", "uuidroom2", "from the phone"))
	phone.nextOfType("ack")
	if m := tablet.nextOfType("message"); m["chatMessage"] != "from the phone" {
		t.Fatalf("tablet got %v", m)
	}
	if m := u1.nextOfType("message"); m["chatMessage"] != "from the phone" {
		t.Fatalf("uuid1 got %v", m)
	}
	phone.expectNone()
	tablet.expectNone()
}

func TestSameDeviceReconnectReplacesOnlyThatDevice(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	phone := mustDialDevice(t, s, "uuid2", "phone")
	tablet := mustDialDevice(t, s, "uuid2", "tablet")
	phone.expectNone()
	phone2 := mustDialDevice(t, s, "uuid2", "phone")
	select {
	case <-phone.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the phone's old connection was not closed")
	}
	if code := websocket.CloseStatus(phone.err); code != 4000 {
		t.Fatalf("old phone connection closed with %v, want 4000", code)
	}
	u1 := mustDial(t, s, "uuid1")
	u1.send(sendMsg("uuid1", "uuidroom2", "after the reconnect"))
	u1.nextOfType("ack")
	for name, c := range map[string]*client{"phone (new)": phone2, "tablet": tablet} {
		if m := c.nextOfType("message"); m["chatMessage"] != "after the reconnect" {
			t.Fatalf("%s got %v", name, m)
		}
	}
	// A request with a bad deviceId is refused before the policy runs.
	if _, err := dial(s, "uuid2&deviceId=bad%20id"); err == nil {
		t.Fatal("bad deviceId accepted")
	}
	tablet.expectNone()
	phone2.expectNone()
}

// TestTabletCatchesUpWhatItMissed: phone and tablet both receive message
// 1; the tablet goes offline while the phone receives 2..4 and goes
// offline too, after the user read the room on the phone (the read cursor
// is the user's, shared by all devices). Each device's delivered cursor is
// its own: the tablet's sync (HTTP with ?deviceId=tablet, and the WebSocket
// sync action on a reconnected tablet, both without client cursors) returns
// exactly 2..4, the phone's nothing.
func TestTabletCatchesUpWhatItMissed(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	base := "http://" + s.addr
	phone := mustDialDevice(t, s, "uuid2", "phone")
	tablet := mustDialDevice(t, s, "uuid2", "tablet")
	u1 := mustDial(t, s, "uuid1")
	u1.send(sendMsg("uuid1", "uuidroom2", "m1"))
	u1.nextOfType("ack")
	phone.nextOfType("message")
	tablet.nextOfType("message")
	// The pong proves the writer recorded message 1 as delivered before
	// the tablet closes.
	tablet.expectNone()
	tablet.conn.Close(websocket.StatusNormalClosure, "offline")
	waitFor(t, "the tablet's cursor", func() bool {
		_, body := httpJSON(t, "GET", base+"/v1/sync?deviceId=tablet", "uuid2", nil)
		return roomOf(t, body, "uuidroom2")["lastSeen"] == float64(1)
	})
	for i := 2; i <= 4; i++ {
		u1.send(sendMsg("uuid1", "uuidroom2", fmt.Sprint("m", i)))
		u1.nextOfType("ack")
		if m := phone.nextOfType("message"); m["index"] != float64(i) {
			t.Fatalf("phone got %v, want index %d", m, i)
		}
	}
	// The user reads the room on the phone: the read cursor (one per user
	// and room) moves, the tablet's delivered cursor does not.
	phone.send(`{"action":"markRead","chatroomId":"uuidroom2","index":4}`)
	if c := phone.nextOfType("cursor"); c["lastRead"] != float64(4) {
		t.Fatalf("markRead answered %v, want lastRead 4", c)
	}
	phone.expectNone()
	phone.conn.Close(websocket.StatusNormalClosure, "offline")
	if _, rooms := httpJSON(t, "GET", base+"/v1/rooms", "uuid2", nil); roomOf(t, rooms, "uuidroom2")["lastRead"] != float64(4) || roomOf(t, rooms, "uuidroom2")["unread"] != float64(0) {
		t.Fatalf("GET /v1/rooms after the phone read = %v, want lastRead 4, unread 0", rooms)
	}
	waitFor(t, "the phone's cursor", func() bool {
		_, body := httpJSON(t, "GET", base+"/v1/sync?deviceId=phone", "uuid2", nil)
		return roomOf(t, body, "uuidroom2")["lastSeen"] == float64(4)
	})

	status, body := httpJSON(t, "GET", base+"/v1/sync?deviceId=tablet", "uuid2", nil)
	if status != 200 {
		t.Fatalf("tablet's sync: %d %v", status, body)
	}
	if got := syncIndexes(t, body, "uuidroom2"); !slices.Equal(got, []float64{2, 3, 4}) {
		t.Fatalf("tablet's HTTP sync returned %v, want exactly 2, 3, 4", got)
	}
	_, body = httpJSON(t, "GET", base+"/v1/sync?deviceId=phone", "uuid2", nil)
	if got := syncIndexes(t, body, "uuidroom2"); len(got) != 0 {
		t.Fatalf("phone's HTTP sync returned %v, want nothing", got)
	}
	// A connection without deviceId is the default device, which saw nothing.
	_, body = httpJSON(t, "GET", base+"/v1/sync", "uuid2", nil)
	if got := syncIndexes(t, body, "uuidroom2"); !slices.Equal(got, []float64{1, 2, 3, 4}) {
		t.Fatalf("default device's HTTP sync returned %v, want 1..4", got)
	}

	tablet = mustDialDevice(t, s, "uuid2", "tablet")
	tablet.send(`{"action":"sync"}`)
	var got []int64
	for {
		f := tablet.next()
		if f["type"] == "messages" {
			got = append(got, batchIndexes(t, f, "uuidroom2")...)
			continue
		}
		if f["type"] != "synced" || f["chatroomId"] != "uuidroom2" {
			t.Fatalf("unexpected frame %v", f)
		}
		break
	}
	if !slices.Equal(got, []int64{2, 3, 4}) {
		t.Fatalf("tablet's WebSocket sync pushed %v, want exactly 2, 3, 4", got)
	}
	tablet.nextOfType("synced") // uuidroom3
	tablet.nextOfType("syncDone")
	tablet.expectNone()
}

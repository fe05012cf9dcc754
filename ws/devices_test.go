package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// connectDevice connects id as device of user and returns its Conn.
func (f *fixture) connectDevice(t *testing.T, id, user, device string) ws.Conn {
	t.Helper()
	if err := f.svc.Connect(context.Background(), tripsense.Connection{ID: id, UserID: user, DeviceID: device, ConnectedAt: time.Now()}); err != nil {
		t.Fatalf("connect %s (%s/%s): %v", id, user, device, err)
	}
	return ws.Conn{ID: id, UserID: user, DeviceID: device}
}

func (f *fixture) closedWith(id string) int {
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	return f.rec.closed[id]
}

// TestReplaceIsPerDevice: under the default policy a new connection
// replaces only the older connection of its own device (4000); the
// user's other devices, the default one included, stay connected and
// keep receiving.
func TestReplaceIsPerDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	f.connectDevice(t, "phone-1", "uuid1", "phone")
	f.connectDevice(t, "tablet-1", "uuid1", "tablet")
	f.connectDevice(t, "plain-1", "uuid1", tripsense.DefaultDevice)
	for _, id := range []string{"phone-1", "tablet-1", "plain-1"} {
		if code := f.closedWith(id); code != 0 {
			t.Fatalf("%s closed with %d by another device's connect", id, code)
		}
	}
	f.connectDevice(t, "phone-2", "uuid1", "phone")
	if code := f.closedWith("phone-1"); code != ws.CloseReplaced {
		t.Fatalf("the phone's older connection closed with %d, want %d", code, ws.CloseReplaced)
	}
	if _, err := f.hub.Get(ctx, "phone-1"); err == nil {
		t.Fatal("replaced connection still registered")
	}
	f.connectDevice(t, "plain-2", "uuid1", tripsense.DefaultDevice)
	if code := f.closedWith("plain-1"); code != ws.CloseReplaced {
		t.Fatalf("the default device's older connection closed with %d, want %d", code, ws.CloseReplaced)
	}
	if code := f.closedWith("tablet-1"); code != 0 {
		t.Fatalf("tablet closed with %d", code)
	}
	u2 := f.connect(t, "u2", "uuid2")
	f.send(t, u2, sendFrame("uuid2", "uuidroom2", "to every device"))
	for _, id := range []string{"phone-2", "tablet-1", "plain-2"} {
		onlyFrame(t, f.rec.take(id), "message")
	}
	for _, id := range []string{"phone-1", "plain-1"} {
		if got := f.rec.take(id); len(got) != 0 {
			t.Fatalf("replaced %s got %v", id, got)
		}
	}
}

// TestDevicesPerUserAreBounded: under replace the other devices count
// toward MaxConnectionsPerUser, the replaced one does not; refuse refuses
// any second connection; allow keeps several per device up to the bound.
func TestDevicesPerUserAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("replace", func(t *testing.T) {
		f := newFixture(t, ws.Replace)
		f.svc.MaxConnectionsPerUser = 2
		f.connectDevice(t, "a", "uuid1", "phone")
		f.connectDevice(t, "b", "uuid1", "tablet")
		err := f.svc.Connect(ctx, tripsense.Connection{ID: "c", UserID: "uuid1", DeviceID: "laptop"})
		if tripsense.ErrorCode(err) != tripsense.ERATELIMITED {
			t.Fatalf("third device: %v, want rate_limited", err)
		}
		if code := f.closedWith("a") + f.closedWith("b"); code != 0 {
			t.Fatal("a refused connect closed a live connection")
		}
		f.connectDevice(t, "d", "uuid1", "tablet") // replaces b: still two
		if f.closedWith("b") != ws.CloseReplaced {
			t.Fatal("tablet not replaced")
		}
	})
	t.Run("refuse", func(t *testing.T) {
		f := newFixture(t, ws.Refuse)
		f.connectDevice(t, "a", "uuid1", "phone")
		for _, device := range []string{"tablet", "phone", tripsense.DefaultDevice} {
			err := f.svc.Connect(ctx, tripsense.Connection{ID: "b", UserID: "uuid1", DeviceID: device})
			if tripsense.ErrorCode(err) != tripsense.ECONFLICT {
				t.Fatalf("second connection (%q) under refuse: %v, want conflict", device, err)
			}
		}
	})
	t.Run("allow", func(t *testing.T) {
		f := newFixture(t, ws.Allow)
		f.svc.MaxConnectionsPerUser = 2
		f.connectDevice(t, "a", "uuid1", "phone")
		f.connectDevice(t, "b", "uuid1", "phone")
		if code := f.closedWith("a"); code != 0 {
			t.Fatalf("allow closed the first connection of the device: %d", code)
		}
		err := f.svc.Connect(ctx, tripsense.Connection{ID: "c", UserID: "uuid1", DeviceID: "tablet"})
		if tripsense.ErrorCode(err) != tripsense.ERATELIMITED {
			t.Fatalf("third connection under allow: %v, want rate_limited", err)
		}
	})
	t.Run("invalid device", func(t *testing.T) {
		f := newFixture(t, ws.Replace)
		for _, d := range []string{"no spaces", "a#b", string(make([]byte, tripsense.MaxIDLen+1))} {
			err := f.svc.Connect(ctx, tripsense.Connection{ID: "x", UserID: "uuid1", DeviceID: d})
			if tripsense.ErrorCode(err) != tripsense.EINVALID {
				t.Fatalf("device %q: %v, want bad_request", d, err)
			}
		}
	})
}

// TestDeliveredCursorPerDevice: phone and tablet both receive message 1;
// the tablet goes offline and the phone alone receives 2..4. Each device's
// disconnect records its own cursor, and the tablet's sync without cursors
// after reconnecting pushes exactly what it missed (2..4), also after the
// phone read the room (reading moves the user's read cursor, not a
// device's delivered cursor); the default device's cursor is not touched.
func TestDeliveredCursorPerDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	f.connectDevice(t, "phone", "uuid2", "phone")
	f.connectDevice(t, "tablet", "uuid2", "tablet")
	u1 := f.connect(t, "u1", "uuid1")
	f.send(t, u1, sendFrame("uuid1", "uuidroom2", "m1"))
	onlyFrame(t, f.rec.take("phone"), "message")
	onlyFrame(t, f.rec.take("tablet"), "message")
	if err := f.svc.Disconnect(ctx, "tablet"); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"m2", "m3", "m4"} {
		f.send(t, u1, sendFrame("uuid1", "uuidroom2", body))
		onlyFrame(t, f.rec.take("phone"), "message")
	}
	if err := f.svc.Disconnect(ctx, "phone"); err != nil {
		t.Fatal(err)
	}
	for device, want := range map[string]int64{"phone": 4, "tablet": 1, tripsense.DefaultDevice: 0} {
		if cur, _ := f.store.Cursor(ctx, "uuid2", device, "uuidroom2"); cur.LastSeen != want {
			t.Errorf("cursor of %q = %d, want %d", device, cur.LastSeen, want)
		}
	}
	// The phone reconnecting has nothing to catch up. It reads the room:
	// that moves the user's read cursor (one for all devices), not the
	// tablet's delivered cursor, so the tablet still catches up 2..4.
	phone := f.connectDevice(t, "phone-2", "uuid2", "phone")
	f.send(t, phone, `{"action":"sync"}`)
	for _, fr := range unbatch(f.rec.take("phone-2")) {
		if fr["type"] == "message" {
			t.Fatalf("phone's sync pushed %v; it had everything", fr)
		}
	}
	f.send(t, phone, `{"action":"markRead","chatroomId":"uuidroom2","index":4}`)
	if c := onlyFrame(t, f.rec.take("phone-2"), "cursor"); c["lastRead"] != float64(4) {
		t.Fatalf("markRead answered %v, want lastRead 4", c)
	}
	if rc, _ := f.store.ReadCursor(ctx, "uuid2", "uuidroom2"); rc.LastRead != 4 {
		t.Fatalf("read cursor after the phone's markRead = %d, want 4", rc.LastRead)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "tablet", "uuidroom2"); cur.LastSeen != 1 {
		t.Fatalf("tablet's delivered cursor after the phone's markRead = %d, want 1", cur.LastSeen)
	}
	tablet := f.connectDevice(t, "tablet-2", "uuid2", "tablet")
	f.send(t, tablet, `{"action":"sync"}`)
	var got []float64
	for _, fr := range unbatch(f.rec.take("tablet-2")) {
		if fr["type"] == "message" {
			got = append(got, fr["index"].(float64))
		}
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("tablet's sync pushed %v, want 2, 3, 4", got)
	}
	if err := f.svc.Disconnect(ctx, "tablet-2"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", tripsense.DefaultDevice, "uuidroom2"); cur.LastSeen != 0 {
		t.Fatalf("default device's cursor = %d after other devices' activity, want 0", cur.LastSeen)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "tablet", "uuidroom2"); cur.LastSeen != 4 {
		t.Fatalf("tablet's cursor after its sync = %d, want 4", cur.LastSeen)
	}
}

// TestAddMemberBaselinePerDevice: a member added back while online gets,
// per connection, its own device's cursor as the watermark start.
func TestAddMemberBaselinePerDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, ws.Replace)
	for range 5 {
		if _, _, err := f.store.Append(ctx, tripsense.NewMessage{Room: "uuidroom1", UserID: "uuid1", Body: "m", Type: "t", CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.AdvanceCursor(ctx, "uuid2", "phone", "uuidroom1", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AdvanceCursor(ctx, "uuid2", "tablet", "uuidroom1", 2); err != nil {
		t.Fatal(err)
	}
	f.connectDevice(t, "phone", "uuid2", "phone")
	f.connectDevice(t, "tablet", "uuid2", "tablet")
	if err := f.svc.AddMember(ctx, "uuidroom1", "uuid2"); err != nil {
		t.Fatal(err)
	}
	u1 := f.connect(t, "u1", "uuid1")
	f.send(t, u1, sendFrame("uuid1", "uuidroom1", "m6"))
	if err := f.svc.Disconnect(ctx, "phone"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Disconnect(ctx, "tablet"); err != nil {
		t.Fatal(err)
	}
	// The phone had 1..5 and got 6: its cursor moves to 6. The tablet had
	// 1..2 and got 6 (3..5 missing): it stays at 2, not at the phone's.
	for device, want := range map[string]int64{"phone": 6, "tablet": 2} {
		if cur, _ := f.store.Cursor(ctx, "uuid2", device, "uuidroom1"); cur.LastSeen != want {
			t.Errorf("cursor of %s = %d, want %d", device, cur.LastSeen, want)
		}
	}
}

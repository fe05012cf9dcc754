package local_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// TestUpgradeWithDevice: ?deviceId= names the connection's device (two
// devices of a user coexist under replace and both receive); a bad,
// empty or repeated deviceId is 400 before anything else happens, so it
// replaces no live connection.
func TestUpgradeWithDevice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0, ws.Replace, map[string][]string{"room": {"u", "v"}})
	phone := dial(t, f.url, "u&deviceId=phone")
	defer phone.CloseNow()
	tablet := dial(t, f.url, "u&deviceId=tablet")
	defer tablet.CloseNow()
	ctx := context.Background()
	waitUntil(t, "both devices registered", func() bool {
		cs, _ := f.hub.UserConnections(ctx, "u")
		return len(cs) == 2
	})
	cs, _ := f.hub.UserConnections(ctx, "u")
	devices := map[string]bool{}
	for _, c := range cs {
		devices[c.DeviceID] = true
	}
	if !devices["phone"] || !devices["tablet"] {
		t.Fatalf("registered devices %v, want phone and tablet", devices)
	}
	for _, q := range []string{"u&deviceId=", "u&deviceId=my%20phone", "u&deviceId=phone&deviceId=tablet"} {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, resp, err := websocket.Dial(dctx, f.url+"?userId="+q, nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("?userId=%s: %v %v, want 400", q, resp, err)
		}
	}
	v := dial(t, f.url, "v")
	defer v.CloseNow()
	write(t, v, `{"action":"sendMessage","chatroomId":"room","chatMessage":"hi","messageType":"t"}`)
	for name, c := range map[string]*websocket.Conn{"phone": phone, "tablet": tablet} {
		if m := readFrame(t, c); m["type"] != "message" || m["chatMessage"] != "hi" {
			t.Fatalf("%s got %v (a refused upgrade must not have replaced it)", name, m)
		}
	}
	// The phone's disconnect records the phone's cursor, not the default
	// device's.
	phone.Close(websocket.StatusNormalClosure, "bye")
	waitUntil(t, "the phone's cursor", func() bool {
		c, _ := f.store.Cursor(ctx, "u", "phone", "room")
		return c.LastSeen == 1
	})
	if c, _ := f.store.Cursor(ctx, "u", tripsense.DefaultDevice, "room"); c.LastSeen != 0 {
		t.Fatalf("default device's cursor = %d, want 0", c.LastSeen)
	}
}

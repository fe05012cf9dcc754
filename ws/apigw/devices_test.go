package apigw_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// TestConnectWithDevice: the $connect query's deviceId names the
// connection's device; devices coexist under replace, the same device is
// replaced; frames run with the connection's device, so its disconnect
// records that device's delivered cursor (and no other device's). A bad or repeated deviceId is 400 and
// replaces nothing.
func TestConnectWithDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandlerFixture(t, ws.Replace)
	for _, c := range [][3]string{{"phone", "uuid2", "phone"}, {"tablet", "uuid2", "tablet"}, {"u1", "uuid1", ""}} {
		q := map[string]string{"userId": c[1]}
		if c[2] != "" {
			q["deviceId"] = c[2]
		}
		if resp := f.call(t, connectEvent(t, c[0], q)); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d %s", c[0], resp.StatusCode, resp.Body)
		}
	}
	if c, err := f.hub.Get(ctx, "tablet"); err != nil || c.DeviceID != "tablet" {
		t.Fatalf("tablet registered as %+v, %v", c, err)
	}
	f.rec.mu.Lock()
	closed := len(f.rec.closed)
	f.rec.mu.Unlock()
	if closed != 0 {
		t.Fatal("a second device replaced the first")
	}
	send := `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"hello","messageType":"text message","clientMsgId":"m1"}`
	f.call(t, frameEvent(t, "u1", "sendMessage", send))
	for _, id := range []string{"phone", "tablet"} {
		if got := f.rec.take(id); len(got) != 1 || !strings.Contains(got[0], `"chatMessage":"hello"`) {
			t.Fatalf("%s got %q", id, got)
		}
	}
	// A markRead on the phone moves the user's read cursor (one for all
	// devices), never a delivered cursor directly.
	f.call(t, frameEvent(t, "phone", "markRead", `{"action":"markRead","chatroomId":"uuidroom2","index":1}`))
	if rc, _ := f.store.ReadCursor(ctx, "uuid2", "uuidroom2"); rc.LastRead != 1 {
		t.Fatalf("read cursor = %+v, want 1", rc)
	}
	// The phone reconnects: its old connection goes, the tablet stays, and
	// the old one's disconnect records the phone's delivered cursor only.
	if resp := f.call(t, connectEvent(t, "phone-2", map[string]string{"userId": "uuid2", "deviceId": "phone"})); resp.StatusCode != 200 {
		t.Fatalf("phone reconnect: %d %s", resp.StatusCode, resp.Body)
	}
	f.rec.mu.Lock()
	closedIDs := append([]string(nil), f.rec.closed...)
	f.rec.mu.Unlock()
	if len(closedIDs) != 1 || closedIDs[0] != "phone" {
		t.Fatalf("closed %q, want the phone's old connection only", closedIDs)
	}
	if cur, _ := f.store.Cursor(ctx, "uuid2", "phone", "uuidroom2"); cur.LastSeen != 1 {
		t.Fatalf("phone's cursor = %+v, want 1", cur)
	}
	for _, device := range []string{tripsense.DefaultDevice, "tablet"} {
		if cur, _ := f.store.Cursor(ctx, "uuid2", device, "uuidroom2"); cur.LastSeen != 0 {
			t.Fatalf("cursor of %q = %+v, want 0", device, cur)
		}
	}
	for _, tc := range []struct {
		name  string
		query map[string]string
		multi map[string][]string
	}{
		{"empty", map[string]string{"userId": "uuid2", "deviceId": ""}, nil},
		{"not an id", map[string]string{"userId": "uuid2", "deviceId": "my phone"}, nil},
		{"twice", map[string]string{"userId": "uuid2", "deviceId": "tablet"}, map[string][]string{"userId": {"uuid2"}, "deviceId": {"phone", "tablet"}}},
	} {
		ev := connectEvent(t, "bad-"+tc.name, tc.query)
		ev.MultiValueQueryStringParameters = tc.multi
		resp := f.call(t, ev)
		if resp.StatusCode != 400 || errorCodeOf(t, resp) != tripsense.EINVALID {
			t.Errorf("deviceId %s: %d %s, want 400 bad_request", tc.name, resp.StatusCode, resp.Body)
		}
	}
	if _, err := f.hub.Get(ctx, "tablet"); err != nil {
		t.Fatalf("a refused connect removed the tablet: %v", err)
	}
}

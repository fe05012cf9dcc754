package api_test

import (
	"context"
	"testing"

	"github.com/tripsense/tripsense"
)

// TestSyncFromTheDevicesCursor: GET /v1/sync?deviceId=D starts the rooms
// without a client cursor at device D's stored cursor; without deviceId
// at the default device's; a client cursor still wins; a bad deviceId is
// 400.
func TestSyncFromTheDevicesCursor(t *testing.T) {
	t.Parallel()
	f := MustServer(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		device, room string
		last         int64
	}{{"phone", "uuidroom1", 5}, {"phone", "uuidroom2", 1}, {"tablet", "uuidroom1", 2}, {tripsense.DefaultDevice, "uuidroom1", 3}} {
		if _, err := f.st.AdvanceCursor(ctx, "uuid1", c.device, c.room, c.last); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		query     string
		room1From int64 // lastSeen of uuidroom1
		room2From int64 // lastSeen of uuidroom2
	}{
		{"?deviceId=phone", 5, 1},
		{"?deviceId=tablet", 2, 0},
		{"", 3, 0},
		{"?deviceId=laptop", 0, 0},
		{"?deviceId=tablet&after=uuidroom1:4", 4, 0},
	} {
		res := f.MustDo(t, "GET", "/v1/sync"+tc.query, "", u1, "uuid1")
		if res.status != 200 {
			t.Fatalf("%s: %d %s", tc.query, res.status, res.body)
		}
		var r struct{ Rooms []roomSync }
		strict(t, res.body, &r)
		if len(r.Rooms) != 2 || r.Rooms[0].LastSeen != tc.room1From || r.Rooms[1].LastSeen != tc.room2From {
			t.Errorf("GET /v1/sync%s = %s, want uuidroom1 from %d, uuidroom2 from %d", tc.query, res.body, tc.room1From, tc.room2From)
		}
	}
	for _, q := range []string{"?deviceId=", "?deviceId=no%20spaces", "?deviceId=a%23b", "?deviceId=phone&deviceId=tablet"} {
		if res := f.MustDo(t, "GET", "/v1/sync"+q, "", u1, "uuid1"); res.status != 400 {
			t.Errorf("GET /v1/sync%s: %d %s, want 400", q, res.status, res.body)
		}
	}
}

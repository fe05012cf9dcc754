package apigw_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/ws"
)

// TestAdminConnectionModerates: $connect keeps the principal's admin flag
// on the connection's record, and every frame runs with it (ws.Conn.Admin),
// as ws/local does: an admin deletes another user's message, a non-admin
// member may not.
func TestAdminConnectionModerates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newHandlerFixture(t, ws.Replace)
	f.h.Auth = &auth.Dev{Admins: map[string]bool{"ops": true}}
	if err := f.store.AddMember(ctx, "uuidroom2", "ops"); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"c1", "uuid1"}, {"c2", "uuid2"}, {"cops", "ops"}} {
		if resp := f.call(t, connectEvent(t, c[0], map[string]string{"userId": c[1]})); resp.StatusCode != 200 {
			t.Fatalf("connect %s: %d %s", c[1], resp.StatusCode, resp.Body)
		}
	}
	if c, err := f.hub.Get(ctx, "cops"); err != nil || !c.Admin {
		t.Fatalf("admin's connection recorded as %+v, %v", c, err)
	}
	send := `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"spam","messageType":"text message","clientMsgId":"m1"}`
	f.call(t, frameEvent(t, "c1", "sendMessage", send))
	for _, id := range []string{"c1", "c2", "cops"} {
		f.rec.take(id)
	}
	del := `{"action":"deleteMessage","chatroomId":"uuidroom2","index":1,"clientMsgId":"d1"}`
	f.call(t, frameEvent(t, "c2", "$default", del))
	if got := f.rec.take("c2"); len(got) != 1 || !strings.Contains(got[0], `"code":"forbidden"`) {
		t.Fatalf("a member's delete of another's message: %q, want forbidden", got)
	}
	f.call(t, frameEvent(t, "cops", "$default", del))
	if got := f.rec.take("cops"); !strings.Contains(strings.Join(got, "\n"), `"type":"ack"`) {
		t.Fatalf("the admin's delete: %q", got)
	}
	all, err := f.store.MessagesAfter(ctx, "uuidroom2", 0, 10)
	if err != nil || len(all) != 2 || !all[0].Deleted || all[0].Body != "" || all[0].DeletedBy != "ops" {
		t.Fatalf("after the admin's delete: %+v, %v", all, err)
	}
}

package test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws"
)

// TestAWSBrowserConnect, through the gateway stand-in and dynalite: the
// $connect Origin check (an allowed origin and the same origin pass, any
// other is 403), the subprotocol (selected when offered, a handshake
// offering only others is 400), and first-frame authentication: a
// browser opens the socket without a token, frames before the auth frame
// get unauthorized errors and nothing is delivered, the auth frame is
// answered authed and the connection then receives the room's messages.
func TestAWSBrowserConnect(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	s.wsOrigins, _ = tripsense.ParseOrigins("https://app.example.com")
	sender := s.dial("uuid2")

	for _, tc := range []struct {
		origin string
		protos []string
		status int
	}{
		{"https://evil.example", []string{"tripsense.v1"}, http.StatusForbidden},
		{"https://app.example.com", []string{"chat"}, http.StatusBadRequest},
	} {
		if _, _, status, err := gateway.DialBrowser(s.gw, "", tc.origin, tc.protos); status != tc.status {
			t.Errorf("Origin %s, offer %v: status %d (%v), want %d", tc.origin, tc.protos, status, err, tc.status)
		}
	}
	// The same origin (the API's own host) needs no list entry.
	host := strings.TrimPrefix(s.gw.URL, "wss://")
	host = host[:strings.IndexByte(host, '/')]
	same, proto, status, err := gateway.DialBrowser(s.gw, "token="+s.token("uuid1", false), "https://"+host, []string{"tripsense.v1"})
	if err != nil || proto != "tripsense.v1" {
		t.Fatalf("same origin: %d %q %v", status, proto, err)
	}
	same.Own(t).Close()

	c, proto, status, err := gateway.DialBrowser(s.gw, "", "https://app.example.com", []string{"chat", "tripsense.v1"})
	if err != nil || proto != "tripsense.v1" {
		t.Fatalf("browser without a token: %d %q %v", status, proto, err)
	}
	c.Own(t)
	c.Send(`{"action":"sync","clientMsgId":"s-1"}`)
	if e := c.NextOfType("error"); e["code"] != tripsense.EUNAUTHORIZED || e["action"] != "sync" || e["clientMsgId"] != "s-1" {
		t.Fatalf("frame before auth: %v", e)
	}
	mustSend(t, sender, "uuidroom2", "before the auth frame")
	c.Send(`{"action":"auth","token":"` + s.token("uuid1", false) + `"}`)
	if a := c.NextOfType("authed"); a["userId"] != "uuid1" {
		t.Fatalf("authed %v", a)
	}
	i := mustSend(t, sender, "uuidroom2", "after the auth frame")
	mustMessage(t, c, "uuidroom2", "after the auth frame", i)
	// The message sent before the auth frame comes with catch-up only.
	c.Send(`{"action":"sync","cursors":{"uuidroom2":0}}`)
	var bodies []string
	for range 20 {
		f := c.Next()
		if f["type"] == "syncDone" {
			break
		}
		if f["type"] == "messages" {
			for _, m := range f["messages"].([]any) {
				bodies = append(bodies, m.(map[string]any)["chatMessage"].(string))
			}
		}
	}
	if strings.Join(bodies, "|") != "before the auth frame|after the auth frame" {
		t.Fatalf("sync after auth: %q", bodies)
	}
}

// TestAWSFirstFrameRefusals: a bad token closes with 4401 and a refused
// admission (duplicate policy refuse) with 4409, each told in a closing
// frame before API Gateway deletes the connection.
func TestAWSFirstFrameRefusals(t *testing.T) {
	t.Parallel()
	s := newAWSStack(t)
	s.wsOptions = append(s.wsOptions, func(svc *ws.Service) { svc.Policy = ws.Refuse })
	s.dial("uuid2")
	for _, tc := range []struct {
		frame  string
		code   int
		reason string
	}{
		{`{"action":"auth","token":"not.a.jwt"}`, ws.CloseUnauthorized, "unauthorized: "},
		{`{"action":"auth","token":"` + s.token("uuid2", false) + `"}`, ws.CloseConflict, "conflict: user uuid2 is already connected"},
	} {
		c, _, status, err := gateway.DialBrowser(s.gw, "", "", []string{"tripsense.v1"})
		if err != nil {
			t.Fatalf("dial: %d %v", status, err)
		}
		c.Own(t)
		c.Send(tc.frame)
		f := c.NextOfType("closing")
		if int(f["code"].(float64)) != tc.code || !strings.HasPrefix(f["reason"].(string), tc.reason) {
			t.Errorf("%s: closing %v, want %d %q...", tc.frame, f, tc.code, tc.reason)
		}
		c.WaitGone()
	}
}

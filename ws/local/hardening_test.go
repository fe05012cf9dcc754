package local_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	wscore "github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// newLimitedFixture serves user "u" (member of "room") with the given
// policy and hub options; it returns the address.
func newLimitedFixture(t *testing.T, policy wscore.DuplicatePolicy, o local.HubOptions) string {
	t.Helper()
	st := memory.New()
	_ = st.AddMember(context.Background(), "room", "u")
	hub := local.NewHub(o)
	srv := &local.Server{Hub: hub, Auth: &auth.Dev{}}
	srv.Service = &wscore.Service{Store: st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: st}, Policy: policy, Limiter: hub}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(wscore.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
	})
	return strings.TrimPrefix(ts.URL, "http://")
}

// rawRequest sends req (a complete HTTP request head) on a new connection
// and returns the status of the answer.
func rawRequest(t *testing.T, addr, req string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: no answer: %v", req, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

// TestUpgradeRefusedByTheLibraryDoesNotKickTheLiveConnection: requests
// that ws.UpgradeHTTP refuses are refused before the duplicate policy, so
// under replace the user's live connection stays open.
func TestUpgradeRefusedByTheLibraryDoesNotKickTheLiveConnection(t *testing.T) {
	t.Parallel()
	addr := newLimitedFixture(t, wscore.Replace, local.HubOptions{})
	live := rawDial(t, addr, "u")
	head := func(proto string, lines ...string) string {
		return "GET /?userId=u " + proto + "\r\nHost: " + addr + "\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
	}
	std := []string{"Sec-WebSocket-Key: " + goodKey, "Sec-WebSocket-Version: 13"}
	for name, req := range map[string]string{
		"HTTP/1.0":                head("HTTP/1.0", append([]string{"Upgrade: websocket", "Connection: Upgrade"}, std...)...),
		"two Upgrade lines":       head("HTTP/1.1", append([]string{"Upgrade: foo", "Upgrade: websocket", "Connection: Upgrade"}, std...)...),
		"two Connection lines":    head("HTTP/1.1", append([]string{"Upgrade: websocket", "Connection: keep-alive", "Connection: Upgrade"}, std...)...),
		"Upgrade: websocket, foo": head("HTTP/1.1", append([]string{"Upgrade: websocket, foo", "Connection: Upgrade"}, std...)...),
		"two keys":                head("HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: short", "Sec-WebSocket-Key: "+goodKey, "Sec-WebSocket-Version: 13"),
		"two versions":            head("HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: "+goodKey, "Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 13"),
	} {
		if status := rawRequest(t, addr, req); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, status)
		}
	}
	live.write(t, ws.NewTextFrame([]byte(`{"action":"ping"}`)))
	if f := live.next(t); !strings.Contains(string(f.Payload), "pong") {
		code, _ := ws.ParseCloseFrameData(f.Payload)
		t.Fatalf("live connection answered %v %q (close code %d)", f.Header.OpCode, f.Payload, code)
	}
}

// TestProtocolPingsTakeATokenToo: a protocol ping costs a token of the
// control budget like a ping frame; over the rate it gets no pong.
func TestProtocolPingsTakeATokenToo(t *testing.T) {
	t.Parallel()
	addr := newLimitedFixture(t, wscore.Allow, local.HubOptions{MsgRate: 0.001, MsgBurst: 2, ControlRate: 0.001, ControlBurst: 2})
	c := rawDial(t, addr, "u")
	for i := 0; i < 5; i++ {
		c.write(t, ws.NewPingFrame([]byte(fmt.Sprint(i))))
	}
	c.write(t, ws.NewTextFrame([]byte(`{"action":"ping"}`)))
	var got []string
	for {
		f := c.next(t)
		if f.Header.OpCode == ws.OpPong {
			got = append(got, "pong "+string(f.Payload))
			continue
		}
		got = append(got, string(f.Payload))
		break
	}
	if len(got) != 3 || got[0] != "pong 0" || got[1] != "pong 1" || !strings.Contains(got[2], "rate_limited") {
		t.Fatalf("answers %q, want two pongs and then rate_limited", got)
	}
}

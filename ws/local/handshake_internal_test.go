package local

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestCheckHandshakeIsAtLeastAsStrictAsTheUpgrade: every request that
// checkHandshake lets through (and so reaches the duplicate policy) is one
// ws.UpgradeHTTP accepts, over combinations of the headers the upgrade
// reads.
func TestCheckHandshakeIsAtLeastAsStrictAsTheUpgrade(t *testing.T) {
	t.Parallel()
	type verdict struct{ ours, lib error }
	var mu sync.Mutex
	var got verdict
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ours := checkHandshake(r)
		conn, _, _, lib := ws.UpgradeHTTP(r, w)
		if conn != nil {
			conn.Close()
		}
		mu.Lock()
		got = verdict{ours, lib}
		mu.Unlock()
	}))
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")

	protos := []string{"HTTP/1.1", "HTTP/1.0"}
	upgrades := [][]string{{"websocket"}, {"WebSocket"}, {"websocket, foo"}, {"foo, websocket"}, {"websocket", "websocket"}, {"foo", "websocket"}, {"websocket", "foo"}, nil, {"websocket/13"}}
	connections := [][]string{{"Upgrade"}, {"upgrade"}, {"keep-alive, Upgrade"}, {"Upgrade, keep-alive"}, {"keep-alive", "Upgrade"}, {"Upgrade", "keep-alive"}, {"foo;bar, upgrade"}, {"upgrade;x"}, {`"upgrade"`}, {", upgrade"}, {"up grade"}, nil}
	keys := [][]string{{"dGhlIHNhbXBsZSBub25jZQ=="}, {"short"}, {"dGhlIHNhbXBsZSBub25jZQ==", "x"}, {"x", "dGhlIHNhbXBsZSBub25jZQ=="}, {"!!!!!!!!!!!!!!!!!!!!!!!!"}, nil}
	versions := [][]string{{"13"}, {"13", "8"}, {"8", "13"}, {"8"}, nil}
	accepted, checked := 0, 0
	for _, proto := range protos {
		for _, up := range upgrades {
			for _, cn := range connections {
				for _, key := range keys {
					for _, ver := range versions {
						var b strings.Builder
						b.WriteString("GET /ws " + proto + "\r\nHost: " + addr + "\r\n")
						for _, v := range up {
							b.WriteString("Upgrade: " + v + "\r\n")
						}
						for _, v := range cn {
							b.WriteString("Connection: " + v + "\r\n")
						}
						for _, v := range key {
							b.WriteString("Sec-WebSocket-Key: " + v + "\r\n")
						}
						for _, v := range ver {
							b.WriteString("Sec-WebSocket-Version: " + v + "\r\n")
						}
						b.WriteString("\r\n")
						send(t, addr, b.String())
						mu.Lock()
						v := got
						got = verdict{}
						mu.Unlock()
						checked++
						if v.ours == nil {
							accepted++
							if v.lib != nil {
								t.Errorf("checkHandshake accepts what the upgrade refuses (%v):\n%s", v.lib, b.String())
							}
						}
					}
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatalf("none of %d requests accepted: the comparison proves nothing", checked)
	}
}

// send writes one request on its own connection and waits for the answer,
// so the handler has finished when it returns.
func send(t *testing.T, addr, req string) {
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
		t.Fatalf("no answer to %q: %v", req, err)
	}
	resp.Body.Close()
}

// TestSubprotocolCheckMatchesTheUpgrade: for every Sec-WebSocket-Protocol
// offer that checkHandshake accepts, the upgrade succeeds and answers
// tripsense.v1 exactly when it was offered; gobwas's parser refuses no
// offer that got through.
func TestSubprotocolCheckMatchesTheUpgrade(t *testing.T) {
	t.Parallel()
	offers := [][]string{
		nil, {"tripsense.v1"}, {"chat, tripsense.v1"}, {"tripsense.v1", "chat"}, {"chat", "tripsense.v1"},
		{" tripsense.v1 "}, {"chat,,tripsense.v1"}, {"tripsense.v1;x"}, {`"tripsense.v1"`}, {"chat"}, {""},
		{"tripsense.v1,"}, {"TRIPSENSE.V1"},
	}
	accepted := 0
	for _, offer := range offers {
		type result struct {
			ours     error
			upgraded bool
		}
		done := make(chan result, 1)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ours := checkHandshake(r)
			if ours != nil {
				writeHTTPError(w, http.StatusBadRequest, ours)
				done <- result{ours: ours}
				return
			}
			proto := ""
			if len(r.Header.Values("Sec-WebSocket-Protocol")) > 0 {
				proto = "tripsense.v1"
			}
			conn, _, err := upgrade(r, w, proto)
			if conn != nil {
				conn.Close()
			}
			done <- result{upgraded: err == nil}
		}))
		addr := strings.TrimPrefix(ts.URL, "http://")
		var b strings.Builder
		b.WriteString("GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
		for _, v := range offer {
			b.WriteString("Sec-WebSocket-Protocol: " + v + "\r\n")
		}
		b.WriteString("\r\n")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Write([]byte(b.String()))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%q: %v", offer, err)
		}
		res := <-done
		conn.Close()
		ts.Close()
		if res.ours != nil {
			continue
		}
		accepted++
		wantProto := ""
		if offer != nil {
			wantProto = "tripsense.v1"
		}
		if !res.upgraded || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Protocol") != wantProto {
			t.Errorf("offer %q: checkHandshake accepts, upgrade %v, status %d, protocol %q (want %q)", offer, res.upgraded, resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"), wantProto)
		}
	}
	if accepted < 5 {
		t.Fatalf("only %d offers accepted", accepted)
	}
}

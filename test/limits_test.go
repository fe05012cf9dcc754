package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense/auth"
)

// TestSlowClientsAtTheDescriptorLimit is issue 10's attack: 300 clients
// that send a request head and never the body (or never finish the head)
// at a server limited to 256 file descriptors. The server keeps serving
// the WebSocket it has, and once the attackers are refused or timed out a
// real client with a valid token fetches /v1/rooms and opens a WebSocket
// within a second.
//
// "default caps": the connection cap derived from the descriptor limit
// (256 - 64) refuses the excess at once, so accept never fails.
// "cap above the descriptor budget": accept fails with EMFILE while the
// descriptors are used up; net/http backs off (at most 1 s) and the server
// recovers by itself when the timed-out connections free theirs.
func TestSlowClientsAtTheDescriptorLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	for _, tc := range []struct {
		name     string
		args     []string
		recovery time.Duration // how soon the real client must be served
		emfile   bool          // whether the server is expected to log EMFILE
	}{
		{"default caps", nil, time.Second, false},
		{"cap above the descriptor budget", []string{"--max-connections", "1000", "--max-connections-per-ip", "0"}, 2 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const secret = "an-example-secret-of-at-least-32-bytes!!"
			s := &server{t: t, addr: freeAddr(t), dataDir: t.TempDir(),
				prefix: []string{prlimit, "--nofile=256:256", "--"},
				env:    []string{"TRIPSENSE_TOKEN_SECRET=" + secret},
				args:   append([]string{"--auth", "token", "--header-timeout", "1s", "--read-timeout", "2s", "--write-timeout", "3s"}, tc.args...)}
			s.mustRun()
			t.Cleanup(s.stop)
			tk, _ := auth.NewToken(secret)
			tok1, _ := tk.Mint("uuid1", time.Hour, false)
			tok2, _ := tk.Mint("uuid2", time.Hour, false)
			// The startup log reaches s.logs through a pipe: wait for it.
			waitFor(t, "the server to log its descriptor limit of 256", func() bool {
				return strings.Contains(s.logs.String(), "descriptor_limit=256")
			})

			// A WebSocket open before the attack.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			live, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws?token="+tok2, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer live.CloseNow()

			const attackers = 300
			var refused, ended atomic.Int64
			allEnded := make(chan struct{})
			var wg sync.WaitGroup
			for i := 0; i < attackers; i++ {
				head := "PUT /v1/rooms/uuidroom2/cursor HTTP/1.1\r\nHost: " + s.addr + "\r\nAuthorization: Bearer " + tok2 +
					"\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
				if i%3 == 0 {
					head = head[:len(head)-2] // the head never ends
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer ended.Add(1)
					conn, err := net.Dial("tcp", s.addr)
					if err != nil {
						return
					}
					defer conn.Close()
					_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
					if _, err := io.WriteString(conn, head); err != nil {
						return
					}
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err == nil && resp.StatusCode == http.StatusTooManyRequests {
						refused.Add(1)
					}
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body) // until the server closes
					}
				}()
			}
			go func() { wg.Wait(); close(allEnded) }()

			// While the attackers hold every slot (or every descriptor), the
			// live WebSocket is served.
			if !tc.emfile {
				waitUntil(t, "the connections over the cap to be refused", 20*time.Second, func() bool { return refused.Load() >= attackers-192 })
			} else {
				waitUntil(t, "the descriptors to run out", 20*time.Second, func() bool { return strings.Contains(s.logs.String(), "too many open files") })
			}
			if ended.Load() == attackers {
				t.Fatal("every attacker was already answered: the attack held nothing")
			}
			if err := live.Write(ctx, websocket.MessageText, []byte(`{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"under attack","messageType":"t","clientMsgId":"a1"}`)); err != nil {
				t.Fatal(err)
			}
			if _, b, err := live.Read(ctx); err != nil || !strings.Contains(string(b), `"type":"ack"`) {
				t.Fatalf("live WebSocket during the attack: %s %v", b, err)
			}

			select {
			case <-allEnded:
			case <-time.After(30 * time.Second):
				t.Fatalf("%d of %d attackers still connected after 30 s:\n%s", attackers-ended.Load(), attackers, tail(s.logs.String()))
			}

			start := time.Now()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			req, _ := http.NewRequest("GET", "http://"+s.addr+"/v1/rooms", nil)
			req.Header.Set("Authorization", "Bearer "+tok1)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET /v1/rooms after the attack: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /v1/rooms after the attack: %d", resp.StatusCode)
			}
			wc, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws?token="+tok1, nil)
			if err != nil {
				t.Fatalf("WebSocket after the attack: %v", err)
			}
			wc.CloseNow()
			took := time.Since(start)
			t.Logf("%d attackers refused at once; real client served %v after the last attacker ended", refused.Load(), took)
			if took > tc.recovery {
				t.Fatalf("real client served after %v, want within %v", took, tc.recovery)
			}
			if emfile := strings.Contains(s.logs.String(), "too many open files"); emfile != tc.emfile {
				t.Errorf("server logged EMFILE: %v, want %v:\n%s", emfile, tc.emfile, tail(s.logs.String()))
			}
		})
	}
}

// waitUntil polls cond until it holds, failing after d.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 30 {
		lines = append([]string{fmt.Sprintf("... %d lines ...", len(lines)-30)}, lines[len(lines)-30:]...)
	}
	return strings.Join(lines, "\n")
}

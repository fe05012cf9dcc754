package test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// TestTokenMode: with --auth token, the WebSocket needs ?token= and HTTP
// needs a bearer token; tokens come from `tripsense token`.
func TestTokenMode(t *testing.T) {
	t.Parallel()
	secret := "an-example-secret-of-at-least-32-bytes!!"
	s := mustStartEnv(t, []string{"TRIPSENSE_TOKEN_SECRET=" + secret}, "--auth", "token")
	mint := func(args ...string) string {
		cmd := exec.Command(binPath, append([]string{"token"}, args...)...)
		cmd.Env = append(os.Environ(), "TRIPSENSE_TOKEN_SECRET="+secret)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("token %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	tok1 := mint("--user", "uuid1", "--ttl", "1h")
	// Expired beyond the 30 s clock-skew leeway.
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "uuid1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(-2 * time.Minute)),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, url := range map[string]string{
		"no token":       "ws://" + s.addr + "/ws?userId=uuid1",
		"broken token":   "ws://" + s.addr + "/ws?token=abc.def.ghi",
		"expired token":  "ws://" + s.addr + "/ws?token=" + expired,
		"forged userId":  "ws://" + s.addr + "/ws?token=" + tok1 + "&userId=uuid2",
		"tampered token": "ws://" + s.addr + "/ws?token=" + tok1[:len(tok1)-3] + "AAA",
	} {
		_, resp, err := websocket.Dial(ctx, url, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v %v, want 401", name, resp, err)
		}
	}
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws?token="+tok1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"signed","messageType":"text message"}`)); err != nil {
		t.Fatal(err)
	}
	if _, data, err := conn.Read(ctx); err != nil || !strings.Contains(string(data), `"type":"ack"`) {
		t.Fatalf("send with token: %s %v", data, err)
	}

	get := func(auth string) int {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/v1/rooms", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("X-User-Id", "uuid1") // ignored in token mode
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != 401 {
		t.Errorf("no bearer: %d", code)
	}
	if code := get("Bearer " + expired); code != 401 {
		t.Errorf("expired bearer: %d", code)
	}
	if code := get("Bearer " + tok1); code != 200 {
		t.Errorf("valid bearer: %d", code)
	}
}

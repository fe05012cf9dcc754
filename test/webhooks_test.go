package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// verifyStandardWebhook is a receiver's check written from the Standard
// Webhooks specification alone: HMAC-SHA256 of "id.timestamp.body" with the
// base64-decoded secret after "whsec_", base64, one of the space-separated
// "v1,<sig>" values, and a timestamp within 5 minutes.
func verifyStandardWebhook(h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(webhookSecret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return fmt.Errorf("bad headers id=%q timestamp=%q", id, ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %v away", d)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

type hookEvent struct {
	Type string
	Data struct {
		ChatroomID     string   `json:"chatroomId"`
		Index          int64    `json:"index"`
		UserID         string   `json:"userId"`
		Kind           string   `json:"kind"`
		ChatMessage    string   `json:"chatMessage"`
		Event          string   `json:"event"`
		OfflineMembers []string `json:"offlineMembers"`
	}
}

// hookReceiver is the app's backend: it verifies every webhook and keeps
// the first of each webhook-id (receivers dedupe on it). It can go down
// and come back on the same address.
type hookReceiver struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
	got  map[string]hookEvent
	bad  []string
	seen chan string
}

func startHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t, addr: freeAddr(t), got: map[string]hookEvent{}, seen: make(chan string, 1000)}
	r.up()
	t.Cleanup(r.down)
	return r
}

func (r *hookReceiver) up() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev hookEvent
		err := verifyStandardWebhook(req.Header, body)
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, fmt.Sprintf("%s: %v: %s", id, err, body))
		} else if _, dup := r.got[id]; !dup {
			r.got[id] = ev
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		r.seen <- id
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *hookReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// await waits until every id arrived, verified, and returns their events.
func (r *hookReceiver) await(ids ...string) map[string]hookEvent {
	r.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		if len(r.bad) > 0 {
			r.t.Fatalf("webhooks that do not verify: %v", r.bad)
		}
		out := map[string]hookEvent{}
		for _, id := range ids {
			if ev, ok := r.got[id]; ok {
				out[id] = ev
			}
		}
		r.mu.Unlock()
		if len(out) == len(ids) {
			return out
		}
		select {
		case <-r.seen:
		case <-deadline:
			r.t.Fatalf("webhooks %v: only %d arrived within 30 s", ids, len(out))
		}
	}
}

// TestRoomsHTTPSendAndDurableWebhooks is issue 14's end-to-end: alice
// creates a room with bob and carol and lists them; she sends over HTTP and
// a retry is a duplicate; bob, online, receives it live; carol, offline, is
// in offlineMembers of a verified message.created webhook. With the
// receiver down, two more sends, then kill -9: both events arrive once the
// server and the receiver are back.
func TestRoomsHTTPSendAndDurableWebhooks(t *testing.T) {
	t.Parallel()
	rcv := startHookReceiver(t)
	s := mustStartEnv(t, []string{"TRIPSENSE_WEBHOOK_SECRET=" + webhookSecret}, "--no-demo", "--webhook-url", "http://"+rcv.addr+"/hooks")
	base := "http://" + s.addr + "/v1/rooms"
	status, body := httpJSON(t, "POST", base, "alice", strings.NewReader(`{"chatroomId":"trip","name":"Rome","members":["bob","carol"]}`))
	if status != 201 || body["createdBy"] != "alice" || body["name"] != "Rome" {
		t.Fatalf("create: %d %v", status, body)
	}
	status, body = httpJSON(t, "GET", base+"/trip/members", "alice", nil)
	if got := fmt.Sprint(body["members"]); status != 200 || got != "[map[role:owner userId:alice] map[role:member userId:bob] map[role:member userId:carol]]" {
		t.Fatalf("members: %d %v", status, body)
	}
	bob := mustDial(t, s, "bob")
	bob.expectNone() // connected: the send below reaches it live
	send := func(id, text string) (int, map[string]any) {
		return httpJSON(t, "POST", base+"/trip/messages", "alice", strings.NewReader(`{"chatMessage":"`+text+`","messageType":"text message","clientMsgId":"`+id+`"}`))
	}
	status, body = send("m1", "hello")
	if status != 201 || body["index"] != float64(4) || body["duplicate"] != false {
		t.Fatalf("send: %d %v", status, body)
	}
	status, body = send("m1", "hello")
	if status != 200 || body["index"] != float64(4) || body["duplicate"] != true {
		t.Fatalf("retry: %d %v", status, body)
	}
	if m := bob.nextOfType("message"); m["chatMessage"] != "hello" || m["index"] != float64(4) || m["userId"] != "alice" {
		t.Fatalf("bob live: %v", m)
	}
	bob.expectNone() // the retry pushed nothing

	evs := rcv.await("evt_trip_1", "evt_trip_2", "evt_trip_3", "evt_trip_4")
	if e := evs["evt_trip_2"]; e.Type != "member.joined" || e.Data.UserID != "bob" {
		t.Fatalf("member event %+v", e)
	}
	e := evs["evt_trip_4"]
	if e.Type != "message.created" || e.Data.ChatMessage != "hello" || e.Data.UserID != "alice" || fmt.Sprint(e.Data.OfflineMembers) != "[carol]" {
		t.Fatalf("message event %+v (bob online, carol offline)", e)
	}

	// Receiver down; two more sends are acknowledged; kill -9.
	rcv.down()
	for i, text := range []string{"second", "third"} {
		if status, body := send(fmt.Sprint("m", i+2), text); status != 201 || body["index"] != float64(5+i) {
			t.Fatalf("send %d: %d %v", i+2, status, body)
		}
	}
	s.kill9()
	rcv.up()
	s.mustRun()
	evs = rcv.await("evt_trip_5", "evt_trip_6")
	if evs["evt_trip_5"].Data.ChatMessage != "second" || evs["evt_trip_6"].Data.ChatMessage != "third" || evs["evt_trip_6"].Type != "message.created" {
		t.Fatalf("after the restart: %+v", evs)
	}
	// Delivered events leave the outbox; the admin route shows it empty
	// once the dispatcher recorded the deliveries.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body = httpJSON(t, "GET", "http://"+s.addr+"/v1/webhooks", "admin", nil)
		if status != 200 {
			t.Fatalf("webhooks: %d %v", status, body)
		}
		if body["pending"] == float64(0) && body["failed"] == float64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not empty: %v", body)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

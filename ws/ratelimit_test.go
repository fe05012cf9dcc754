package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// TestSendsAndControlFramesHaveSeparateBudgets: a client that used up its
// send budget (flushing an outbox) can still sync, ping and mark read, and
// every rate_limited frame says when to retry.
func TestSendsAndControlFramesHaveSeparateBudgets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	hub := local.NewHub(local.HubOptions{MsgRate: 0.001, MsgBurst: 3, ControlRate: 0.001, ControlBurst: 2})
	f.svc.Presence, f.rec.presence, f.svc.Limiter = hub, hub, hub
	u1 := f.connect(t, "c1", "uuid1")
	for range 3 {
		f.send(t, u1, sendFrame("uuid1", "uuidroom1", "outbox"))
		onlyFrame(t, f.rec.take("c1"), "ack")
	}
	f.send(t, u1, `{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"x","messageType":"t","clientMsgId":"m-4"}`)
	e := onlyFrame(t, f.rec.take("c1"), "error")
	if e["code"] != tripsense.ERATELIMITED || e["action"] != "sendMessage" || e["clientMsgId"] != "m-4" {
		t.Fatalf("fourth send: %v", e)
	}
	// 0.001 tokens per second: the next one is 1000 s away.
	if ms, ok := e["retryAfterMs"].(float64); !ok || ms < 900_000 || ms > 1_000_000 {
		t.Fatalf("retryAfterMs = %v, want about 1000000", e["retryAfterMs"])
	}
	// The control budget is untouched by the sends.
	f.send(t, u1, `{"action":"ping"}`)
	onlyFrame(t, f.rec.take("c1"), "pong")
	f.send(t, u1, `{"action":"markRead","chatroomId":"uuidroom1","index":3}`)
	onlyFrame(t, f.rec.take("c1"), "cursor")
	f.send(t, u1, `{"action":"sync"}`)
	e = onlyFrame(t, f.rec.take("c1"), "error")
	if e["code"] != tripsense.ERATELIMITED || e["action"] != "sync" || e["retryAfterMs"] == nil {
		t.Fatalf("third control frame: %v", e)
	}
}

// TestHubBudgetRefills: an empty budget reports the time to its next
// token, and allows again once it passed.
func TestHubBudgetRefills(t *testing.T) {
	t.Parallel()
	hub := local.NewHub(local.HubOptions{MsgRate: 50, MsgBurst: 1, ControlRate: 50, ControlBurst: 1})
	if _, err := hub.Register(context.Background(), tripsense.Connection{ID: "c", UserID: "u"}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := hub.Allow("c", ws.BudgetSend); !ok {
		t.Fatal("first send refused")
	}
	ok, wait := hub.Allow("c", ws.BudgetSend)
	if ok || wait <= 0 || wait > 20*time.Millisecond {
		t.Fatalf("second send: ok=%v wait=%v, want refused with at most 20ms", ok, wait)
	}
	if ok, _ := hub.Allow("c", ws.BudgetControl); !ok {
		t.Fatal("control frame refused after a send")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, _ := hub.Allow("c", ws.BudgetSend); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the send budget never refilled")
		}
		time.Sleep(wait) // the limiter's own answer: when the next token is due
	}
}

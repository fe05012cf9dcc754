package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/store/bolt"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// newBoltFixture serves the given memberships from a durable bbolt store
// (the single binary's wiring: group commit, ordered rooms).
func newBoltFixture(t *testing.T, queueLimit int, members map[string][]string) (string, *bolt.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for room, users := range members {
		for _, u := range users {
			if err := st.AddMember(context.Background(), room, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	hub := local.NewHub(local.HubOptions{QueueLimit: queueLimit})
	svc := &ws.Service{Store: st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: st}, Policy: ws.Replace, OrderedRooms: true}
	srv := &local.Server{Service: svc, Hub: hub, Auth: &auth.Dev{}}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(ws.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
		_ = st.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http"), st
}

// TestPipelinedSendsShareCommitsAndAnswerInReadOrder: one connection
// writes many sendMessage frames without waiting for acks, with a send to a
// room it is not in among them and a ping at the end. Its sends share
// commits (a connection whose frames are handled one at a time commits once
// per send), every answer comes in the order the frames were read, the
// indexes follow that order, and the other member receives the messages in
// index order.
func TestPipelinedSendsShareCommitsAndAnswerInReadOrder(t *testing.T) {
	t.Parallel()
	url, st := newBoltFixture(t, 0, map[string][]string{"r": {"alice", "bob"}, "other": {"carol"}})
	alice := dial(t, url, "alice")
	defer alice.CloseNow()
	bob := dial(t, url, "bob")
	defer bob.CloseNow()

	const n = 200
	const bad = 100 // this frame goes to a room alice is not in
	before := st.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Write every frame first: with stop-and-wait the server would handle
	// them one after the other however fast they arrive.
	for i := range n {
		room := "r"
		if i == bad {
			room = "other"
		}
		f := fmt.Sprintf(`{"action":"sendMessage","chatroomId":%q,"chatMessage":"m%d","messageType":"text","clientMsgId":"c%d"}`, room, i, i)
		if err := alice.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.Write(ctx, websocket.MessageText, []byte(`{"action":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	want := int64(1)
	for i := range n {
		f := readFrame(t, alice)
		if i == bad {
			if f["type"] != "error" || f["code"] != "not_member" || f["clientMsgId"] != fmt.Sprint("c", i) {
				t.Fatalf("answer %d: %v, want the not_member error of c%d", i, f, i)
			}
			continue
		}
		if f["type"] != "ack" || f["clientMsgId"] != fmt.Sprint("c", i) || f["index"] != float64(want) {
			t.Fatalf("answer %d: %v, want the ack of c%d with index %d", i, f, i, want)
		}
		want++
	}
	if f := readFrame(t, alice); f["type"] != "pong" {
		t.Fatalf("after the acks: %v, want the pong", f)
	}
	commits := st.Stats().Commits - before.Commits
	t.Logf("%d sends in %d commits", n-1, commits)
	if commits > n/4 {
		t.Fatalf("%d sends of one connection took %d commits: they did not share commits", n-1, commits)
	}
	// The reader reuses the buffer a frame was read into once the frame is
	// handled: every body arrives as it was sent.
	for i := int64(1); i < want; i++ {
		sent := i - 1 // the frame that got index i
		if sent >= bad {
			sent++
		}
		f := readFrame(t, bob)
		if f["type"] != "message" || f["index"] != float64(i) || f["chatMessage"] != fmt.Sprint("m", sent) {
			b, _ := json.Marshal(f)
			t.Fatalf("bob's frame %d: %s, want message %d with the body m%d", i, b, i, sent)
		}
	}
}

// TestPipelinedAcksWaitForQueueRoom: a client that writes more sends than
// its connection's queue holds before it reads any ack is not a slow
// consumer: its acks wait for room (and its sends for the in-flight bound),
// and every ack arrives, in order.
func TestPipelinedAcksWaitForQueueRoom(t *testing.T) {
	t.Parallel()
	url, _ := newBoltFixture(t, 8, map[string][]string{"r": {"alice"}})
	alice := dial(t, url, "alice")
	defer alice.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 100
	for i := range n {
		f := fmt.Sprintf(`{"action":"sendMessage","chatroomId":"r","chatMessage":"m%d","messageType":"text","clientMsgId":"c%d"}`, i, i)
		if err := alice.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		f := readFrame(t, alice)
		if f["type"] != "ack" || f["index"] != float64(i+1) {
			t.Fatalf("answer %d: %v, want ack %d", i, f, i+1)
		}
	}
}

// TestPipelinedSendsThroughMetricsDecorators: the single binary wraps the
// store and the hub in package metrics' decorators. Behind them the
// pipeline still finds the store's AppendQueued (sends of one connection
// share commits) and the hub's BroadcastBatch, and the metrics count every
// pipelined send and every delivered message frame.
func TestPipelinedSendsThroughMetricsDecorators(t *testing.T) {
	t.Parallel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := st.AddMember(context.Background(), "r", u); err != nil {
			t.Fatal(err)
		}
	}
	m := metrics.New(metrics.Build{})
	mst := m.Store(st)
	if _, ok := mst.(ws.QueuedAppender); !ok {
		t.Fatal("the metrics decorator hides the store's AppendQueued")
	}
	hub := local.NewHub(local.HubOptions{})
	p := m.Pusher(hub)
	if _, ok := p.(ws.BatchBroadcaster); !ok {
		t.Fatal("the metrics decorator hides the hub's BroadcastBatch")
	}
	svc := &ws.Service{Store: mst, Presence: hub, Pusher: p, Catchup: &catchup.Service{Store: mst}, Policy: ws.Replace, OrderedRooms: true, Observer: m}
	srv := &local.Server{Service: svc, Hub: hub, Auth: &auth.Dev{}}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.CloseAll(ws.CloseGoingAway, "test over")
		_ = srv.Wait(context.Background())
		ts.Close()
		_ = st.Close()
	})
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	alice := dial(t, url, "alice")
	defer alice.CloseNow()
	bob := dial(t, url, "bob")
	defer bob.CloseNow()

	const n = 200
	before := st.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		f := fmt.Sprintf(`{"action":"sendMessage","chatroomId":"r","chatMessage":"m%d","messageType":"text","clientMsgId":"c%d"}`, i, i)
		if err := alice.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if f := readFrame(t, alice); f["type"] != "ack" || f["index"] != float64(i+1) {
			t.Fatalf("answer %d: %v, want the ack of index %d", i, f, i+1)
		}
	}
	for i := range n {
		if f := readFrame(t, bob); f["type"] != "message" || f["index"] != float64(i+1) {
			t.Fatalf("bob's frame %d: %v, want message %d", i, f, i+1)
		}
	}
	commits := st.Stats().Commits - before.Commits
	t.Logf("%d sends in %d commits behind the metrics decorators", n, commits)
	if commits > n/4 {
		t.Fatalf("%d sends of one connection took %d commits: the pipeline fell back behind the decorator", n, commits)
	}
	if got := metricValue(t, m, "tripsense_sends_total", "stored"); got != n {
		t.Fatalf("tripsense_sends_total{result=stored} = %v, want %d", got, n)
	}
	if got := metricValue(t, m, "tripsense_frames_in_total", "sendMessage"); got != n {
		t.Fatalf("tripsense_frames_in_total{action=sendMessage} = %v, want %d", got, n)
	}
	if got := metricValue(t, m, "tripsense_frames_out_total", "message"); got != n {
		t.Fatalf("tripsense_frames_out_total{type=message} = %v, want %d", got, n)
	}
}

// metricValue is the counter of name whose only label has value label.
func metricValue(t *testing.T, m *metrics.Metrics, name, label string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetValue() == label && s.Counter != nil {
					return s.Counter.GetValue()
				}
			}
		}
	}
	return 0
}

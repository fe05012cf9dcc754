// Package webhooktest is the one test suite of the webhook runtimes: the
// single binary's outbox Dispatcher and the AWS DynamoDB-stream consumer
// run the same cases against a receiver that verifies every delivery with
// webhook.Verify (written from the Standard Webhooks specification).
package webhooktest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/webhook"
)

// Secret is the suite's webhook secret.
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Delivery is one request the receiver got.
type Delivery struct {
	Header http.Header
	Body   []byte
	Err    error // webhook.Verify's verdict
}

// Receiver is an httptest server that records and verifies deliveries.
// Status, when set, is what it answers (204 otherwise).
type Receiver struct {
	URL    string
	Status atomic.Int32
	mu     sync.Mutex
	got    []Delivery
}

// NewReceiver starts a receiver, closed when t ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, Delivery{Header: req.Header.Clone(), Body: b, Err: webhook.Verify(Secret, req.Header, b, time.Now(), 5*time.Minute)})
		r.mu.Unlock()
		if s := r.Status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Take returns and forgets the deliveries so far.
func (r *Receiver) Take() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

// Runtime is one way of delivering webhooks, over a store the suite
// appends to. Members alice, bob and carol are in room "trip"; bob is
// online.
type Runtime struct {
	Store tripsense.Store
	// Deliver runs one delivery pass: everything due (the Dispatcher) or
	// the records from the last failure on (the stream consumer).
	Deliver func(t *testing.T)
}

// Run runs the suite; newRuntime builds a fresh runtime delivering to url
// with Secret, bob online.
func Run(t *testing.T, newRuntime func(t *testing.T, url string) Runtime) {
	t.Run("MessageCreatedSignedWithOfflineMembers", func(t *testing.T) {
		rcv := NewReceiver(t)
		rt := newRuntime(t, rcv.URL)
		appendMsg(t, rt.Store, tripsense.NewMessage{Room: "trip", UserID: "alice", Body: "hello", Type: "text"})
		rt.Deliver(t)
		g := rcv.Take()
		if len(g) != 1 || g[0].Err != nil || g[0].Header.Get("webhook-id") != "evt_trip_1" {
			t.Fatalf("deliveries %+v", g)
		}
		var ev struct {
			Type string
			Data struct {
				ChatMessage    string
				OfflineMembers []string
			}
		}
		if err := json.Unmarshal(g[0].Body, &ev); err != nil || ev.Type != "message.created" || ev.Data.ChatMessage != "hello" ||
			strings.Join(ev.Data.OfflineMembers, ",") != "carol" {
			t.Fatalf("event %s (%v)", g[0].Body, err)
		}
		rt.Deliver(t)
		if g := rcv.Take(); len(g) != 0 {
			t.Fatalf("delivered twice: %d", len(g))
		}
	})
	t.Run("FailedDeliveryIsRetriedWithTheSameID", func(t *testing.T) {
		rcv := NewReceiver(t)
		rt := newRuntime(t, rcv.URL)
		rcv.Status.Store(500)
		appendMsg(t, rt.Store, tripsense.NewMessage{Room: "trip", UserID: "alice", Body: "one", Type: "text"})
		rt.Deliver(t)
		rcv.Status.Store(0)
		rt.Deliver(t)
		g := rcv.Take()
		if len(g) != 2 || g[0].Header.Get("webhook-id") != "evt_trip_1" || g[1].Header.Get("webhook-id") != "evt_trip_1" || g[1].Err != nil {
			t.Fatalf("deliveries %+v", g)
		}
	})
	t.Run("EveryKindHasItsType", func(t *testing.T) {
		rcv := NewReceiver(t)
		rt := newRuntime(t, rcv.URL)
		for _, nm := range []tripsense.NewMessage{
			{Room: "trip", UserID: "alice", Body: "m", Type: "text"},
			{Room: "trip", UserID: "alice", Kind: tripsense.KindEdit, Target: 1, Body: "m2"},
			{Room: "trip", UserID: "bob", Kind: tripsense.KindReaction, Target: 1, Reaction: ":+1:"},
			{Room: "trip", UserID: "alice", Kind: tripsense.KindDelete, Target: 1},
			{Room: "trip", UserID: "dave", Kind: tripsense.KindMember, Type: tripsense.MemberJoined, Body: "alice"},
			{Room: "trip", UserID: "alice", Kind: tripsense.KindRename, Body: "Rome"},
		} {
			appendMsg(t, rt.Store, nm)
		}
		rt.Deliver(t)
		var types []string
		for _, d := range rcv.Take() {
			var ev struct{ Type string }
			if d.Err != nil || json.Unmarshal(d.Body, &ev) != nil {
				t.Fatalf("%v %s", d.Err, d.Body)
			}
			types = append(types, d.Header.Get("webhook-id")+" "+ev.Type)
		}
		want := "[evt_trip_1 message.created evt_trip_2 message.edited evt_trip_3 reaction.added evt_trip_4 message.deleted evt_trip_5 member.joined evt_trip_6 room.renamed]"
		if got := sortedString(types); got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

func appendMsg(t *testing.T, st tripsense.Store, nm tripsense.NewMessage) tripsense.Message {
	t.Helper()
	m, _, err := st.Append(context.Background(), nm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sortedString(s []string) string {
	for i := range s { // insertion sort: a handful of items
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	b, _ := json.Marshal(s)
	return strings.NewReplacer(`","`, " ", `["`, "[", `"]`, "]").Replace(string(b))
}

// Online is bob online in trip.
type Online struct{}

// RoomConnections lists bob.
func (Online) RoomConnections(context.Context, string) ([]tripsense.Member, error) {
	return []tripsense.Member{{ConnID: "c-bob", UserID: "bob"}}, nil
}

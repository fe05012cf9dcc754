package webhook_test

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
	"github.com/tripsense/tripsense/store/memory"
	"github.com/tripsense/tripsense/webhook"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

type online map[string][]string // room -> users online

func (o online) RoomConnections(_ context.Context, room string) ([]tripsense.Member, error) {
	var out []tripsense.Member
	for _, u := range o[room] {
		out = append(out, tripsense.Member{ConnID: "c-" + u, UserID: u})
	}
	return out, nil
}

type got struct {
	header http.Header
	body   []byte
	err    error // the spec verifier's verdict
}

// receiver records every delivery, verified with webhook.Verify; status
// says what it answers (200 when nil).
type receiver struct {
	mu     sync.Mutex
	got    []got
	status atomic.Int32
	srv    *httptest.Server
	block  chan struct{} // when not nil, each request waits on it
	seen   chan struct{} // one per request answered
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{seen: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.block != nil {
			<-r.block
		}
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, got{header: req.Header.Clone(), body: b, err: webhook.Verify(secret, req.Header, b, time.Now(), 5*time.Minute)})
		r.mu.Unlock()
		if s := r.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		w.WriteHeader(204)
		r.seen <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) take() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func setup(t *testing.T, url string) (*memory.Store, *webhook.Dispatcher, *clock) {
	t.Helper()
	st := memory.New()
	st.Outbox = true
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := st.AddMember(context.Background(), "trip", u); err != nil {
			t.Fatal(err)
		}
	}
	snd, err := webhook.NewSender(url, secret, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.ns.Store(time.Now().Add(time.Second).UnixNano()) // after the appends' recording time
	d := &webhook.Dispatcher{Outbox: st, Source: st, Online: online{"trip": {"bob"}}, Sender: snd, Now: c.Now}
	return st, d, c
}

// TestDeliveryRetriesAndReplay: a message.created event reaches the
// receiver signed (verified from the specification) with offlineMembers;
// a failing receiver gets the same webhook-id again after the backoff,
// doubling; past MaxAge the event is failed, and a replay sends it again.
func TestDeliveryRetriesAndReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rcv := newReceiver(t)
	st, d, c := setup(t, rcv.srv.URL)
	if _, _, err := st.Append(ctx, tripsense.NewMessage{Room: "trip", UserID: "alice", Body: "hello", Type: "text", ClientMsgID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if n := d.Pass(ctx); n != 1 {
		t.Fatalf("pass tried %d", n)
	}
	g := rcv.take()
	if len(g) != 1 || g[0].err != nil {
		t.Fatalf("deliveries %+v", g)
	}
	var ev struct {
		Type      string
		Timestamp string
		Data      struct {
			ChatroomID     string
			Index          int64
			UserID         string
			Kind           string
			ChatMessage    string
			OfflineMembers []string
		}
	}
	if err := json.Unmarshal(g[0].body, &ev); err != nil {
		t.Fatalf("%s: %v", g[0].body, err)
	}
	if ev.Type != "message.created" || ev.Data.ChatroomID != "trip" || ev.Data.Index != 1 || ev.Data.ChatMessage != "hello" ||
		strings.Join(ev.Data.OfflineMembers, ",") != "carol" || g[0].header.Get("webhook-id") != "evt_trip_1" {
		t.Fatalf("event %s, headers %v", g[0].body, g[0].header)
	}
	if l, _ := st.OutboxList(ctx, 10); len(l) != 0 {
		t.Fatalf("delivered but still in the outbox: %+v", l)
	}

	// A receiver that fails: retried with the same id, backing off.
	rcv.status.Store(503)
	if _, _, err := st.Append(ctx, tripsense.NewMessage{Room: "trip", UserID: "alice", Kind: tripsense.KindEdit, Target: 1, Body: "hello!"}); err != nil {
		t.Fatal(err)
	}
	d.Pass(ctx)
	if d.Pass(ctx) != 0 {
		t.Fatal("retried before the backoff")
	}
	c.Advance(webhook.DefaultMinBackoff)
	d.Pass(ctx)
	c.Advance(webhook.DefaultMinBackoff) // the second backoff is twice as long
	if d.Pass(ctx) != 0 {
		t.Fatal("the backoff did not double")
	}
	c.Advance(webhook.DefaultMinBackoff)
	d.Pass(ctx)
	g = rcv.take()
	if len(g) != 3 {
		t.Fatalf("%d attempts, want 3", len(g))
	}
	for _, x := range g {
		if x.header.Get("webhook-id") != "evt_trip_2" || x.err != nil || !strings.Contains(string(x.body), `"type":"message.edited"`) {
			t.Fatalf("attempt %v %s", x.err, x.body)
		}
	}
	l, _ := st.OutboxList(ctx, 10)
	if len(l) != 1 || l[0].Attempts != 3 || !strings.Contains(l[0].LastError, "503") || l[0].Failed {
		t.Fatalf("state %+v", l)
	}
	// Keep failing for a day: it is failed for good, then replayed.
	for i := 0; i < 200 && !l[0].Failed; i++ {
		c.Advance(webhook.DefaultMaxBackoff)
		d.Pass(ctx)
		l, _ = st.OutboxList(ctx, 10)
	}
	if !l[0].Failed || c.Now().Sub(l[0].CreatedAt) < 24*time.Hour {
		t.Fatalf("not failed after a day of retries: %+v", l)
	}
	if st, err := webhook.ReadStatus(ctx, st, 10); err != nil || st.Failed != 1 || st.Pending != 0 {
		t.Fatalf("status %+v %v", st, err)
	}
	rcv.take()
	c.Advance(time.Hour)
	if d.Pass(ctx) != 0 {
		t.Fatal("a failed event was retried")
	}
	rcv.status.Store(0)
	if n, err := st.OutboxReplay(ctx, 0, c.Now()); err != nil || n != 1 {
		t.Fatalf("replay %d %v", n, err)
	}
	d.Pass(ctx)
	if g := rcv.take(); len(g) != 1 || g[0].header.Get("webhook-id") != "evt_trip_2" {
		t.Fatalf("replayed %+v", g)
	}
	if l, _ := st.OutboxList(ctx, 10); len(l) != 0 {
		t.Fatalf("outbox after the replay %+v", l)
	}
}

// TestSlowReceiverNeverSlowsSends: while the receiver holds every request,
// appends complete at once; the events go out once it answers.
func TestSlowReceiverNeverSlowsSends(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rcv := newReceiver(t)
	rcv.block = make(chan struct{})
	st, d, _ := setup(t, rcv.srv.URL)
	d.Now = time.Now
	d.Poll = 10 * time.Millisecond
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	start := time.Now()
	for range 50 {
		if _, _, err := st.Append(ctx, tripsense.NewMessage{Room: "trip", UserID: "alice", Body: "m", Type: "t"}); err != nil {
			t.Fatal(err)
		}
		d.Notify()
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("50 appends took %v with a blocked receiver", el)
	}
	close(rcv.block)
	deadline := time.After(10 * time.Second)
	for i := range 50 {
		select {
		case <-rcv.seen:
		case <-deadline:
			t.Fatalf("%d of 50 events delivered in 10 s", i)
		}
	}
	cancel()
	<-done
	g := rcv.take()
	ids := map[string]bool{}
	for _, x := range g {
		if x.err != nil {
			t.Fatal(x.err)
		}
		ids[x.header.Get("webhook-id")] = true
	}
	if len(ids) != 50 {
		t.Fatalf("%d distinct events delivered, want 50", len(ids))
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	st, d, _ := setup(t, rcv.srv.URL)
	d.Now = time.Now
	if _, _, err := st.Append(context.Background(), tripsense.NewMessage{Room: "trip", UserID: "alice", Body: "m", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	d.Pass(context.Background())
	g := rcv.take()[0]
	now := time.Now()
	if err := webhook.Verify(secret, g.header, g.body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if webhook.Verify(secret, g.header, append(g.body, ' '), now, time.Minute) == nil {
		t.Fatal("a changed body verified")
	}
	if webhook.Verify("whsec_"+strings.Repeat("A", 32), g.header, g.body, now, time.Minute) == nil {
		t.Fatal("another secret verified")
	}
	if webhook.Verify(secret, g.header, g.body, now.Add(10*time.Minute), time.Minute) == nil {
		t.Fatal("an old timestamp verified")
	}
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_???", "whsec_" + "QUJD"} {
		if _, err := webhook.ParseSecret(bad); err == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
	if _, err := webhook.NewSender("ftp://x", secret, 0, nil); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    tripsense.Message
		want string
	}{
		{tripsense.Message{}, "message.created"},
		{tripsense.Message{Kind: tripsense.KindEdit}, "message.edited"},
		{tripsense.Message{Kind: tripsense.KindDelete}, "message.deleted"},
		{tripsense.Message{Kind: tripsense.KindReaction}, "reaction.added"},
		{tripsense.Message{Kind: tripsense.KindReaction, Remove: true}, "reaction.removed"},
		{tripsense.Message{Kind: tripsense.KindMember, Type: tripsense.MemberJoined}, "member.joined"},
		{tripsense.Message{Kind: tripsense.KindMember, Type: tripsense.MemberOwner}, "room.owner_changed"},
		{tripsense.Message{Kind: tripsense.KindMember, Type: tripsense.MemberLeft}, "member.left"},
		{tripsense.Message{Kind: tripsense.KindRename}, "room.renamed"},
	} {
		if got := webhook.TypeOf(&tc.m); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.m, got, tc.want)
		}
	}
}

package ws_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// gatedStore is a ws.QueuedAppender whose appends are stored at once, in
// the order they are queued (so they get indexes in that order), while
// each one's wait returns only once the test opens its gate: a commit that
// takes as long as the test wants.
type gatedStore struct {
	tripsense.Store
	mu     sync.Mutex
	gates  []chan struct{}
	queued chan int // receives the number of each queued append
}

func newGatedStore(st tripsense.Store) *gatedStore {
	return &gatedStore{Store: st, queued: make(chan int, 100)}
}

func (g *gatedStore) AppendQueued(ctx context.Context, m tripsense.NewMessage) tripsense.QueuedAppend {
	a := &gatedAppend{ctx: ctx, gate: make(chan struct{})}
	a.msg, a.dup, a.err = g.Store.Append(ctx, m)
	g.mu.Lock()
	g.gates = append(g.gates, a.gate)
	n := len(g.gates)
	g.mu.Unlock()
	g.queued <- n
	return a
}

// gatedAppend is an append of a gatedStore: stored at once, its Result
// waits for its gate.
type gatedAppend struct {
	ctx  context.Context
	gate chan struct{}
	msg  tripsense.Message
	dup  bool
	err  error
}

func (a *gatedAppend) Done() <-chan struct{} { return a.gate }

func (a *gatedAppend) Result() (tripsense.Message, bool, error) {
	select {
	case <-a.gate:
	case <-a.ctx.Done():
		return tripsense.Message{}, false, a.ctx.Err()
	}
	return a.msg, a.dup, a.err
}

// newGatedFixture returns a fixture whose service appends through a
// gatedStore, with rooms in hand-out order (as on the single binary).
func newGatedFixture(t *testing.T) (*fixture, *gatedStore) {
	t.Helper()
	f := newFixture(t, ws.Allow)
	g := newGatedStore(f.store)
	f.svc.Store = g
	f.svc.OrderedRooms = true
	return f, g
}

// open releases the wait of append n (1-based).
func (g *gatedStore) open(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.gates[n-1])
}

func waitQueued(t *testing.T, g *gatedStore, want int) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	select {
	case n := <-g.queued:
		if n != want {
			t.Fatalf("append %d queued, want %d", n, want)
		}
	case <-deadline.C:
		t.Fatalf("append %d was not queued", want)
	}
}

// TestPipelineAnswersInReadOrder: three sends are in flight at once (Handle
// returns while their appends wait for the commit); the last append's
// commit comes first, yet the answers (ack, the not_member error of the
// middle frame, ack) go out in read order, and a ping read after them is
// answered after them.
func TestPipelineAnswersInReadOrder(t *testing.T) {
	t.Parallel()
	f, g := newGatedFixture(t)
	w := f.connect(t, "w", "uuid1")
	f.connect(t, "reader", "uuid2")
	p := f.svc.NewPipeline(w, ws.PipelineOptions{})
	ctx := context.Background()
	// The second and third are refused: not a member, and a body of the
	// wrong type (undecodable, still answered with its clientMsgId).
	undecodable := `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":5,"messageType":"t","clientMsgId":"c2b"}`
	for _, fr := range []string{sendWithID("uuidroom2", "a", "c1"), sendWithID("uuidroom3", "b", "c2"), undecodable, sendWithID("uuidroom2", "c", "c3")} {
		if err := p.Handle(ctx, []byte(fr)); err != nil {
			t.Fatal(err)
		}
	}
	waitQueued(t, g, 1)
	waitQueued(t, g, 2)
	if got := f.rec.take("w"); len(got) != 0 {
		t.Fatalf("answers before any commit: %v", got)
	}
	g.open(2) // the later commit first
	g.open(1)
	pinged := make(chan error, 1)
	go func() { pinged <- p.Handle(ctx, []byte(`{"action":"ping"}`)) }()
	select {
	case err := <-pinged:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ping was not answered")
	}
	got := f.rec.take("w")
	if len(got) != 5 {
		t.Fatalf("writer got %v, want 5 answers", got)
	}
	want := []struct {
		typ, id string
		index   float64
	}{{"ack", "c1", 1}, {"error", "c2", 0}, {"error", "c2b", 0}, {"ack", "c3", 2}, {"pong", "", 0}}
	for i, w := range want {
		if got[i]["type"] != w.typ || (w.id != "" && got[i]["clientMsgId"] != w.id) || (w.index > 0 && got[i]["index"] != w.index) {
			t.Fatalf("answer %d is %v, want %s %s %v (all: %v)", i, got[i], w.typ, w.id, w.index, got)
		}
	}
	if got[1]["code"] != "not_member" || got[2]["code"] != "bad_request" || got[2]["action"] != "sendMessage" {
		t.Fatalf("middle answers %v and %v, want not_member and bad_request for sendMessage", got[1], got[2])
	}
	reader := f.rec.take("reader")
	if len(reader) != 2 || reader[0]["index"] != float64(1) || reader[1]["index"] != float64(2) {
		t.Fatalf("reader got %v, want messages 1 and 2", reader)
	}
}

// TestPipelineBoundsSendsInFlight: with the bound reached (in count or in
// bytes), the next send is not taken (its append is not queued) until the
// oldest one is answered.
func TestPipelineBoundsSendsInFlight(t *testing.T) {
	t.Parallel()
	frame := func(i int) []byte { return []byte(sendWithID("uuidroom2", "body", fmt.Sprint("c", i))) }
	for name, o := range map[string]ws.PipelineOptions{
		"count": {MaxSends: 2},
		"bytes": {MaxBytes: 2*len(frame(1)) + 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, g := newGatedFixture(t)
			w := f.connect(t, "w", "uuid1")
			p := f.svc.NewPipeline(w, o)
			ctx := context.Background()
			for i := 1; i <= 2; i++ {
				if err := p.Handle(ctx, frame(i)); err != nil {
					t.Fatal(err)
				}
				waitQueued(t, g, i)
			}
			third := make(chan error, 1)
			go func() { third <- p.Handle(ctx, frame(3)) }()
			// Negative check, bounded: a pipeline over its bound would
			// queue the third append at once.
			select {
			case n := <-g.queued:
				t.Fatalf("append %d queued with 2 sends in flight", n)
			case <-time.After(50 * time.Millisecond):
			}
			g.open(1)
			waitQueued(t, g, 3)
			if err := <-third; err != nil {
				t.Fatal(err)
			}
			g.open(2)
			g.open(3)
			p.Drain()
			got := f.rec.take("w")
			if len(got) != 3 || got[0]["index"] != float64(1) || got[2]["index"] != float64(3) {
				t.Fatalf("writer got %v, want acks 1..3", got)
			}
		})
	}
}

// batchRecorder is the recorder with the hub's fast paths: it counts the
// pushes to each connection (one Broadcast or BroadcastBatch is one push
// per recipient, like one wake-up and one write of its writer).
type batchRecorder struct {
	*recorder
	pmu    sync.Mutex
	pushes map[string]int
}

func (b *batchRecorder) Broadcast(ctx context.Context, room, skip string, out tripsense.Outbound) []string {
	b.BroadcastBatch(ctx, room, []tripsense.Outbound{out}, []string{skip})
	return nil
}

func (b *batchRecorder) BroadcastBatch(ctx context.Context, room string, outs []tripsense.Outbound, senders []string) {
	members, _ := b.presence.RoomConnections(ctx, room)
	for _, mb := range members {
		pushed := false
		for i, out := range outs {
			if senders[i] != mb.ConnID {
				_ = b.Push(ctx, mb.ConnID, out)
				pushed = true
			}
		}
		if pushed {
			b.pmu.Lock()
			b.pushes[mb.ConnID]++
			b.pmu.Unlock()
		}
	}
}

// TestPipelineHandsOutOneCommitAsOneRun: three sends of one connection
// whose appends are all committed when the first is answered reach the
// other member in one push (one write of its connection), in index order,
// not in three.
func TestPipelineHandsOutOneCommitAsOneRun(t *testing.T) {
	t.Parallel()
	f, g := newGatedFixture(t)
	br := &batchRecorder{recorder: f.rec, pushes: map[string]int{}}
	f.svc.Pusher = br
	w := f.connect(t, "w", "uuid1")
	f.connect(t, "reader", "uuid2")
	p := f.svc.NewPipeline(w, ws.PipelineOptions{})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if err := p.Handle(ctx, []byte(sendWithID("uuidroom2", fmt.Sprint("m", i), fmt.Sprint("c", i)))); err != nil {
			t.Fatal(err)
		}
		waitQueued(t, g, i)
	}
	g.open(3)
	g.open(2)
	g.open(1) // one commit: all three are over when the first is answered
	p.Drain()
	reader := f.rec.take("reader")
	if len(reader) != 3 {
		t.Fatalf("reader got %v, want 3 messages", reader)
	}
	for i, fr := range reader {
		if fr["index"] != float64(i+1) {
			t.Fatalf("reader got %v: out of order", reader)
		}
	}
	br.pmu.Lock()
	defer br.pmu.Unlock()
	if br.pushes["reader"] != 1 {
		t.Fatalf("the reader's connection was pushed to %d times for one commit of 3 messages, want once", br.pushes["reader"])
	}
	if acks := f.rec.take("w"); len(acks) != 3 || acks[2]["index"] != float64(3) {
		t.Fatalf("writer got %v, want 3 acks", acks)
	}
}

// TestSlowIndexKeepsItsPlace: an index whose send is slow to come back
// from the store (its commit is over only after a higher index's) is not
// given up: the higher one waits for it, however long, and the reader gets
// them in index order. (The hand-out used to give up after 250 ms and push
// the slow one late, out of order.)
func TestSlowIndexKeepsItsPlace(t *testing.T) {
	t.Parallel()
	f, g := newGatedFixture(t)
	f.svc.MaxConnectionsPerUser = 10
	a := f.connect(t, "a", "uuid1")
	b := f.connect(t, "b", "uuid1")
	f.connect(t, "reader", "uuid2")
	pa := f.svc.NewPipeline(a, ws.PipelineOptions{})
	pb := f.svc.NewPipeline(b, ws.PipelineOptions{})
	ctx := context.Background()
	if err := pa.Handle(ctx, []byte(sendWithID("uuidroom2", "first", "c1"))); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, g, 1)
	if err := pb.Handle(ctx, []byte(sendWithID("uuidroom2", "second", "c2"))); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, g, 2)
	g.open(2)
	drained := make(chan struct{})
	go func() { pb.Drain(); close(drained) }()
	// What must not happen: index 2 going out (and b's ack) while index
	// 1's send is still in flight. Waited for longer than the old limit.
	select {
	case <-drained:
		t.Fatalf("b was answered while index 1 was in flight; reader got %v", f.rec.take("reader"))
	case <-time.After(400 * time.Millisecond):
	}
	g.open(1)
	pa.Drain()
	<-drained
	got := f.rec.take("reader")
	if len(got) != 2 || got[0]["index"] != float64(1) || got[1]["index"] != float64(2) {
		t.Fatalf("reader got %v, want 1 then 2", got)
	}
}

// TestPipelineFrameTimeoutBoundsASend: a send whose commit does not come
// is answered with an error once FrameTimeout (at the most) has passed,
// and the connection's next send, after a drain, has a context of its own
// (the pipeline's frame epochs) and is acked.
func TestPipelineFrameTimeoutBoundsASend(t *testing.T) {
	t.Parallel()
	f, g := newGatedFixture(t)
	w := f.connect(t, "w", "uuid1")
	const timeout = 300 * time.Millisecond
	p := f.svc.NewPipeline(w, ws.PipelineOptions{FrameTimeout: timeout})
	ctx := context.Background()
	drained := func() {
		t.Helper()
		done := make(chan struct{})
		go func() { p.Drain(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the send was not answered")
		}
	}
	start := time.Now()
	if err := p.Handle(ctx, []byte(sendWithID("uuidroom2", "a", "c1"))); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, g, 1) // its gate stays shut
	drained()
	if took := time.Since(start); took < timeout*3/4 {
		t.Fatalf("the send timed out after %v, before 3/4 of FrameTimeout %v", took, timeout)
	}
	if got := f.rec.take("w"); len(got) != 1 || got[0]["type"] != "error" || got[0]["clientMsgId"] != "c1" {
		t.Fatalf("writer got %v, want one error for c1", got)
	}
	if err := p.Handle(ctx, []byte(sendWithID("uuidroom2", "b", "c2"))); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, g, 2)
	g.open(2)
	drained()
	if got := f.rec.take("w"); len(got) != 1 || got[0]["type"] != "ack" || got[0]["clientMsgId"] != "c2" {
		t.Fatalf("writer got %v, want the ack of c2", got)
	}
}

// sendTimes is a ws.Observer and ws.SendObserver that passes on each
// send's time.
type sendTimes chan time.Duration

func (sendTimes) FrameIn(string)                 {}
func (s sendTimes) SendAnswered(d time.Duration) { s <- d }

// TestPipelineTellsEachSendsTimeInTheServer: the SendObserver hears of
// every send once it is answered (its error after FrameTimeout, an ack
// after its commit), with the time since the frame was taken; a frame that
// is not a send is not counted.
func TestPipelineTellsEachSendsTimeInTheServer(t *testing.T) {
	t.Parallel()
	f, g := newGatedFixture(t)
	times := make(sendTimes, 10)
	f.svc.Observer = times
	w := f.connect(t, "w", "uuid1")
	const timeout = 200 * time.Millisecond
	p := f.svc.NewPipeline(w, ws.PipelineOptions{FrameTimeout: timeout})
	ctx := context.Background()
	next := func() time.Duration {
		t.Helper()
		select {
		case d := <-times:
			return d
		case <-time.After(10 * time.Second):
			t.Fatal("no send time was reported")
			return 0
		}
	}
	start := time.Now()
	if err := p.Handle(ctx, []byte(sendWithID("uuidroom2", "a", "c1"))); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, g, 1) // its gate stays shut: answered with an error at the frame's deadline
	d := next()
	if took := time.Since(start); d < timeout*3/4 || d > took {
		t.Fatalf("the timed-out send took %v in the server, want between %v and %v", d, timeout*3/4, took)
	}
	start = time.Now()
	if err := p.Handle(ctx, []byte(sendWithID("uuidroom2", "b", "c2"))); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, g, 2)
	opened := time.Now()
	g.open(2)
	d = next()
	if d < opened.Sub(start) || d > time.Since(start) {
		t.Fatalf("the acked send took %v in the server, want between %v and %v", d, opened.Sub(start), time.Since(start))
	}
	if err := p.Handle(ctx, []byte(`{"action":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if got := f.rec.take("w"); len(got) != 3 || got[0]["type"] != "error" || got[1]["type"] != "ack" || got[2]["type"] != "pong" {
		t.Fatalf("writer got %v, want error, ack, pong", got)
	}
	if len(times) != 0 {
		t.Fatalf("%d more send times reported, want none for the ping", len(times))
	}
}

package ws

import (
	"context"
	"sync"
	"time"

	"github.com/tripsense/tripsense"
)

// Bounds of a Pipeline (PipelineOptions' defaults).
const (
	// DefaultMaxInFlightSends bounds the sendMessage frames of one
	// connection that were read but not answered yet. When a connection
	// has this many in flight, its next frame is not read until the oldest
	// is answered (TCP pushes back on the client).
	DefaultMaxInFlightSends = 256
	// DefaultMaxInFlightBytes bounds the bytes of those frames (a frame
	// larger than this still goes when nothing else is in flight).
	DefaultMaxInFlightBytes = 1 << 20
	// DefaultFrameTimeout bounds the work of one frame (store calls and
	// the waits for the room's hand-out order).
	DefaultFrameTimeout = 30 * time.Second
)

// PipelineOptions tunes a Pipeline. Zero values take the defaults.
type PipelineOptions struct {
	MaxSends     int           // DefaultMaxInFlightSends
	MaxBytes     int           // DefaultMaxInFlightBytes
	FrameTimeout time.Duration // DefaultFrameTimeout
	// Admin, when set, is the connection's admin flag now: every frame
	// that is not a send runs with it as Conn.Admin (an auth refresh may
	// have changed it since the pipeline was made; see
	// tripsense.AdminRecorder). Sends do not depend on the flag.
	Admin func() bool
}

// Pipeline runs the frames of one connection in the order they were read,
// with many sends in flight: a sendMessage is checked and handed to the
// store (queued behind the sends read before it, when the store is a
// QueuedAppender) as soon as it is read, and the next frame is read while
// it waits for its commit, so one connection's sends share group commits.
// Its hand-out to the room and its ack run on a goroutine of the pipeline
// (started when a send is in flight, gone when none is), one send after the
// other in read order, so the acks (and error frames) of a connection go
// out in the order its frames were read. Any frame other than sendMessage
// first waits until every frame read before it was answered, then runs as
// Service.Handle runs it: its answer comes after theirs, and it sees their
// effects.
//
// With a store that is not a QueuedAppender every frame is handled
// synchronously, as by Service.Handle.
//
// It is for a runtime with a long-lived connection (ws/local); on API
// Gateway each frame is its own invocation and calls Service.Handle.
// Handle and Drain must be called from one goroutine (the connection's
// reader).
type Pipeline struct {
	s       *Service
	c       Conn
	o       PipelineOptions
	sendObs SendObserver // the Service's Observer, when it is one

	mu      sync.Mutex
	queue   []*pipeItem // read, not yet taken by the answering goroutine
	running bool        // the answering goroutine exists
	sends   int         // in flight: read and not yet answered
	bytes   int         // their frame bytes
	gone    error       // an answer could not be pushed: the connection is gone
	freed   chan struct{}
	epoch   *frameEpoch // the context new sends get
}

// frameEpoch is a context that the sends read within a quarter of
// FrameTimeout of each other share, its deadline FrameTimeout after the
// first of them: each send's work is bounded by 3/4 to all of
// FrameTimeout, without a context and a timer of its own (which were 6
// of a send's allocations and 2.5% of the server's CPU with 100 senders).
// It is cancelled once it is no longer handed out (no longer the
// pipeline's epoch) and its last send is answered.
type frameEpoch struct {
	ctx    context.Context
	cancel context.CancelFunc
	reuse  time.Time // handed out to sends read before this
	users  int       // sends holding it, not yet answered
}

// pipeItem is one frame of a pipeline, answered in read order.
type pipeItem struct {
	ctx   context.Context // epoch's
	epoch *frameEpoch
	size  int
	// Exactly one of: a send to finish, an error of its checks (with the
	// frame's action and clientMsgId for the error frame), a ready answer.
	op          *sendOp
	err         error
	action, cid string
	reply       []byte
	// read is when Handle took the frame; set only for a SendObserver.
	read time.Time
}

var sendAction = []string{"sendMessage"}

// NewPipeline returns the pipeline of connection c.
func (s *Service) NewPipeline(c Conn, o PipelineOptions) *Pipeline {
	if o.MaxSends <= 0 {
		o.MaxSends = DefaultMaxInFlightSends
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxInFlightBytes
	}
	if o.FrameTimeout <= 0 {
		o.FrameTimeout = DefaultFrameTimeout
	}
	sendObs, _ := s.Observer.(SendObserver)
	return &Pipeline{s: s, c: c, o: o, sendObs: sendObs, freed: make(chan struct{}, 1)}
}

// Handle takes the next frame of the connection. A sendMessage returns
// once it is in flight (after waiting for room under the bounds); any
// other frame returns once it was answered. Like Service.Handle it returns
// an error only when the connection is gone, possibly found out by an
// earlier frame's answer. ctx is the connection's, the same for every
// frame: the sends read close together share a context derived from it
// (frameEpoch).
func (p *Pipeline) Handle(ctx context.Context, data []byte) error {
	if err := p.goneErr(); err != nil {
		return err
	}
	send := false
	if len(data) <= tripsense.MaxFrameBytes {
		_, send = tripsense.JSONStringMemberIn(data, "action", sendAction)
	}
	if _, queued := p.s.Store.(QueuedAppender); !send || !queued {
		// Not a send, or a store that appends synchronously (nothing to
		// overlap): answered here, after every earlier frame.
		p.Drain()
		if err := p.goneErr(); err != nil {
			return err
		}
		fctx, cancel := context.WithTimeout(ctx, p.o.FrameTimeout)
		defer cancel()
		c := p.c
		if p.o.Admin != nil {
			c.Admin = p.o.Admin()
		}
		return p.s.Handle(fctx, c, data)
	}
	var read time.Time
	if p.sendObs != nil {
		read = time.Now()
	}
	p.acquire(len(data))
	it := &pipeItem{size: len(data), read: read}
	it.epoch = p.enterEpoch(ctx)
	it.ctx = it.epoch.ctx
	if refusal := p.s.refusal(p.c, data); refusal != nil {
		it.reply = refusal
	} else if f, err := p.s.decodeObserved(data); err != nil {
		it.reply = undecodedFrame(err, data)
	} else {
		// decodeFrame refuses a member given twice, so the action is the
		// one JSONStringMember found: sendMessage.
		it.action, it.cid = f.Action, f.ClientMsgID
		it.op, it.err = p.s.startSend(it.ctx, p.c, &f)
	}
	p.mu.Lock()
	p.queue = append(p.queue, it)
	if !p.running {
		p.running = true
		go p.answerLoop()
	}
	p.mu.Unlock()
	return nil
}

// enterEpoch returns the frame epoch for a send read now, counted as one
// more of its users.
func (p *Pipeline) enterEpoch(ctx context.Context) *frameEpoch {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.epoch
	if e == nil || !now.Before(e.reuse) {
		p.retireEpochLocked()
		e = &frameEpoch{reuse: now.Add(p.o.FrameTimeout / 4)}
		e.ctx, e.cancel = context.WithDeadline(ctx, now.Add(p.o.FrameTimeout))
		p.epoch = e
	}
	e.users++
	return e
}

// retireEpochLocked stops handing out the current epoch (cancelling it
// if no send holds it). Called with p.mu held.
func (p *Pipeline) retireEpochLocked() {
	if e := p.epoch; e != nil {
		if e.users == 0 {
			e.cancel()
		}
		p.epoch = nil
	}
}

// Drain waits until every frame taken so far has been answered. The
// reader calls it before the connection's disconnect, so that the sends in
// flight finish (their room order and the sender's watermark) first. Each
// frame's work is bounded by FrameTimeout.
func (p *Pipeline) Drain() {
	for {
		p.mu.Lock()
		if p.sends == 0 {
			// Nothing holds the epoch: release its timer (the next send
			// starts another).
			p.retireEpochLocked()
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		<-p.freed
	}
}

// acquire waits until one more send of size bytes fits the bounds, and
// counts it in flight.
func (p *Pipeline) acquire(size int) {
	for {
		p.mu.Lock()
		if p.sends == 0 || (p.sends < p.o.MaxSends && p.bytes+size <= p.o.MaxBytes) {
			p.sends++
			p.bytes += size
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		<-p.freed
	}
}

func (p *Pipeline) goneErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gone
}

// maxLanded bounds the sends an answering round lands before it acks the
// first of them.
const maxLanded = 256

// answerLoop answers the queued frames in read order until the queue is
// empty, then exits (an idle connection holds no goroutine for it). Each
// round waits for the oldest frame's commit, then also lands every send
// queued behind it whose commit is over too (the same commit, mostly)
// before it answers them in order: their messages reach the room's
// hand-out together and go out as one run (see roomOrder.handOut).
func (p *Pipeline) answerLoop() {
	var round []*pipeItem
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.running = false
			p.queue = nil
			p.mu.Unlock()
			return
		}
		round = append(round[:0], p.take())
		p.mu.Unlock()
		if op := round[0].op; op != nil {
			p.s.land(round[0].ctx, p.c, op)
		}
		for i := 0; i < len(round); i++ {
			// Before each answer (which may wait for the room's lower
			// indexes), land what has committed since: a message of this
			// connection that others' hand-outs wait for is offered as
			// soon as it is stored, not after this round.
			round = p.landReady(round)
			p.answer(round[i])
			round[i] = nil
		}
	}
}

// landReady moves the queued frames whose sends are over (in read order,
// up to maxLanded in the round) into round and lands them.
func (p *Pipeline) landReady(round []*pipeItem) []*pipeItem {
	from := len(round)
	p.mu.Lock()
	for len(p.queue) > 0 && len(round) < maxLanded && (p.queue[0].op == nil || p.queue[0].op.ready()) {
		round = append(round, p.take())
	}
	p.mu.Unlock()
	for _, it := range round[from:] {
		if it.op != nil {
			p.s.land(it.ctx, p.c, it.op)
		}
	}
	return round
}

// take removes the oldest queued frame. Called with p.mu held.
func (p *Pipeline) take() *pipeItem {
	it := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	return it
}

// answer answers one frame (after its send landed) and retires it.
func (p *Pipeline) answer(it *pipeItem) {
	var err error
	switch {
	case it.op != nil:
		// Run even when the connection is gone: the send is in the store
		// and holds its place in the room's hand-out order.
		err = p.s.answer(it.ctx, p.c, it.action, it.cid, p.s.finishSend(it.ctx, p.c, it.op))
	case it.reply != nil:
		err = p.s.reply(it.ctx, p.c, it.reply)
	default:
		err = p.s.answer(it.ctx, p.c, it.action, it.cid, it.err)
	}
	if p.sendObs != nil {
		p.sendObs.SendAnswered(time.Since(it.read))
	}
	p.mu.Lock()
	e := it.epoch
	e.users--
	if e.users == 0 && p.epoch != e {
		e.cancel()
	}
	p.sends--
	p.bytes -= it.size
	if err != nil && p.gone == nil {
		p.gone = err
	}
	p.mu.Unlock()
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

package loadgen

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fanoutParams is one send phase over a plan.
type fanoutParams struct {
	label        string
	plan         plan
	window       int
	interval     time.Duration // per sender between sends; 0 = unpaced
	size         int
	randomIDs    bool // clientMsgIds that sort randomly (--client-msg-ids random)
	duration     time.Duration
	warmup       time.Duration
	messages     int64
	progress     time.Duration
	stallTimeout time.Duration
	drainTimeout time.Duration
}

// engine runs a send phase: senders write stamped messages, every
// connection's reader goroutine accounts what arrives.
type engine struct {
	p       fanoutParams
	conns   []*bconn
	senders []*sender
	rooms   []*roomLedger
	log     io.Writer

	lat    Histogram // send-to-receive, messages sent after the warm-up
	latAll Histogram // send-to-receive, every message
	ackLat Histogram // send-to-ack, every message

	warmNanos atomic.Int64 // sends at or after this Unix time count in lat

	sent, acked, delivered     atomic.Int64
	stalls, late               atomic.Int64
	sendErrors, writeErrors    atomic.Int64
	serverDupAcks, closedEarly atomic.Int64
	closing                    atomic.Bool

	mu         sync.Mutex
	errCodes   map[string]int64
	closeCodes map[string]int64
}

// bconn is one bench connection.
type bconn struct {
	idx      int
	user     string
	room     int
	roomName string
	sender   int // -1 when it only receives
	ws       *rawConn
	recv     recvLedger // written by the reader goroutine only
	done     chan struct{}
}

// Slot words pack a 40-bit sequence (the slot's generation) with a 24-bit
// count of the releases still expected: the ack plus one per receiver.
const (
	countBits = 24
	countMask = 1<<countBits - 1
	seqMask   = 1<<40 - 1
)

func packSlot(seq uint64, n uint64) uint64 { return (seq&seqMask)<<countBits | n }

// sender is a sending connection's window.
type sender struct {
	id     int
	conn   *bconn
	need   uint64 // releases per message: the ack + the room's other members
	slots  []atomic.Uint64
	sentAt []atomic.Int64
	free   chan int // slots ready for a new message; capacity = window
	timer  *time.Timer
	buf    []byte
}

func newSender(id int, c *bconn, roomMembers, window int) *sender {
	s := &sender{
		id: id, conn: c, need: uint64(roomMembers), // (members-1) receivers + 1 ack
		slots:  make([]atomic.Uint64, window),
		sentAt: make([]atomic.Int64, window),
		free:   make(chan int, window),
	}
	for i := range window {
		s.free <- i
	}
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	return s
}

// release counts one expected event (ack or delivery) of message seq in
// slot; the last one frees the slot. Stale events (an older generation, or
// a slot already freed) are ignored. It reports whether it counted.
func (s *sender) release(slot int, seq uint64) bool {
	if slot < 0 || slot >= len(s.slots) {
		return false
	}
	p := &s.slots[slot]
	for {
		v := p.Load()
		if v>>countBits != seq&seqMask || v&countMask == 0 {
			return false
		}
		if p.CompareAndSwap(v, v-1) {
			if (v-1)&countMask == 0 {
				s.free <- slot
			}
			return true
		}
	}
}

// forceRelease frees slot now if it still holds message seq.
func (s *sender) forceRelease(slot int, seq uint64) bool {
	if slot < 0 || slot >= len(s.slots) {
		return false
	}
	p := &s.slots[slot]
	for {
		v := p.Load()
		if v>>countBits != seq&seqMask || v&countMask == 0 {
			return false
		}
		if p.CompareAndSwap(v, packSlot(seq, 0)) {
			s.free <- slot
			return true
		}
	}
}

// freeStalled frees every slot busy since before cutoff (Unix nanos).
func (s *sender) freeStalled(cutoff int64) int64 {
	var n int64
	for i := range s.slots {
		v := s.slots[i].Load()
		if v&countMask != 0 && s.sentAt[i].Load() < cutoff && s.forceRelease(i, v>>countBits) {
			n++
		}
	}
	return n
}

// acquire waits for a free slot. A slot busy for longer than the stall
// timeout is freed and counted as a stall, so a lost delivery slows the run
// down instead of stopping it.
func (s *sender) acquire(ctx context.Context, e *engine) (int, bool) {
	select {
	case slot := <-s.free:
		return slot, true
	default:
	}
	s.timer.Reset(e.p.stallTimeout)
	defer s.timer.Stop()
	for {
		select {
		case slot := <-s.free:
			return slot, true
		case <-ctx.Done():
			return -1, false
		case <-s.timer.C:
			e.stalls.Add(s.freeStalled(time.Now().Add(-e.p.stallTimeout).UnixNano()))
			s.timer.Reset(e.p.stallTimeout)
		}
	}
}

// newEngine builds the connections' state for p (no I/O).
func newEngine(p fanoutParams, log io.Writer) *engine {
	e := &engine{p: p, log: log, errCodes: map[string]int64{}, closeCodes: map[string]int64{}}
	e.rooms = make([]*roomLedger, len(p.plan.rooms))
	for i := range e.rooms {
		e.rooms[i] = &roomLedger{}
	}
	e.conns = make([]*bconn, len(p.plan.users))
	for i, u := range p.plan.users {
		r := p.plan.roomOf[i]
		e.conns[i] = &bconn{idx: i, user: u, room: r, roomName: p.plan.rooms[r], sender: p.plan.senderOf[i], done: make(chan struct{})}
	}
	e.senders = make([]*sender, len(p.plan.senders))
	for sid, ci := range p.plan.senders {
		c := e.conns[ci]
		e.senders[sid] = newSender(sid, c, len(p.plan.members[c.room]), p.window)
	}
	return e
}

// readLoop reads c's frames until the connection closes.
func (e *engine) readLoop(c *bconn) {
	defer close(c.done)
	buf := make([]byte, 0, 512)
	var f frame
	for {
		var err error
		buf, err = c.ws.ReadMessage(buf)
		if err != nil {
			if !e.closing.Load() {
				e.closedEarly.Add(1)
				e.count(e.closeCodes, closeLabel(err))
			}
			return
		}
		e.handle(c, buf, &f, time.Now().UnixNano())
	}
}

// closeLabel names why a connection ended: the server's close code, or
// "no close frame" (reset, EOF, read error).
func closeLabel(err error) string {
	if code := closeStatus(err); code != -1 {
		return strconv.Itoa(int(code))
	}
	return "no close frame"
}

func (e *engine) count(m map[string]int64, key string) {
	e.mu.Lock()
	m[key]++
	e.mu.Unlock()
}

// handle accounts one server frame that reached c at now (Unix nanos).
func (e *engine) handle(c *bconn, data []byte, f *frame, now int64) {
	if err := parseFrame(data, f); err != nil {
		c.recv.bad++
		return
	}
	switch string(f.Type) {
	case "message":
		e.onMessage(c, f, now)
	case "ack":
		e.onAck(c, f, now)
	case "error":
		e.count(e.errCodes, string(f.Code))
		if sid, slot, seq, ok := parseClientMsgID(f.ClientMsgID); ok && sid == c.sender {
			e.sendErrors.Add(1)
			e.senders[sid].forceRelease(slot, seq)
		}
	}
}

func (e *engine) onMessage(c *bconn, f *frame, now int64) {
	if string(f.Room) != c.roomName {
		c.recv.foreign++
		return
	}
	st, ok := parsePayload(f.ChatMessage)
	if !ok || st.Sender < 0 || st.Sender >= len(e.senders) {
		c.recv.bad++
		return
	}
	s := e.senders[st.Sender]
	if st.Sender == c.sender || s.conn.room != c.room || string(f.UserID) != s.conn.user {
		c.recv.foreign++
		return
	}
	e.delivered.Add(1)
	if c.recv.record(f.Index) {
		return
	}
	lat := time.Duration(now - st.Nanos)
	e.latAll.Record(lat)
	if st.Nanos >= e.warmNanos.Load() {
		e.lat.Record(lat)
	}
	s.release(st.Slot, st.Seq)
}

func (e *engine) onAck(c *bconn, f *frame, now int64) {
	sid, slot, seq, ok := parseClientMsgID(f.ClientMsgID)
	if !ok || c.sender < 0 || sid != c.sender || string(f.Room) != c.roomName {
		c.recv.bad++
		return
	}
	if f.Duplicate {
		e.serverDupAcks.Add(1)
	}
	s := e.senders[sid]
	e.rooms[c.room].acked(f.Index, sid)
	e.acked.Add(1)
	if slot >= 0 && slot < len(s.slots) {
		sentAt := s.sentAt[slot].Load()
		if s.release(slot, seq) {
			e.ackLat.Record(time.Duration(now - sentAt))
		}
	}
}

// runSender sends until ctx ends or the message cap is reached. phase
// offsets a paced sender's schedule so senders do not fire together.
func (e *engine) runSender(ctx context.Context, s *sender, start time.Time, phase time.Duration) {
	next := start.Add(phase)
	for seq := uint64(1); ; seq++ {
		if e.p.interval > 0 {
			if d := time.Until(next); d > 0 {
				s.timer.Reset(d)
				select {
				case <-ctx.Done():
					s.timer.Stop()
					return
				case <-s.timer.C:
				}
			}
		}
		slot, ok := s.acquire(ctx, e)
		if !ok {
			return
		}
		if e.sent.Add(1) > e.p.messages {
			e.sent.Add(-1)
			s.free <- slot
			return
		}
		now := time.Now()
		if e.p.interval > 0 {
			if now.Sub(next) > time.Millisecond {
				e.late.Add(1)
			}
			next = next.Add(e.p.interval)
		}
		nanos := now.UnixNano()
		s.sentAt[slot].Store(nanos)
		s.slots[slot].Store(packSlot(seq, s.need))
		st := stamp{Sender: s.id, Slot: slot, Seq: seq, Nanos: nanos}
		s.buf = appendSendFrame(s.buf[:0], s.conn.user, s.conn.roomName, st, e.p.size, e.p.randomIDs)
		// The connection is closed (unblocking Write) when the phase ends.
		if err := s.conn.ws.WriteText(s.buf); err != nil {
			e.writeErrors.Add(1)
			s.forceRelease(slot, seq)
			return
		}
	}
}

// counters is a snapshot of the engine's progress.
type counters struct {
	at                     time.Time
	sent, acked, delivered int64
}

func (e *engine) snapshot() counters {
	return counters{at: time.Now(), sent: e.sent.Load(), acked: e.acked.Load(), delivered: e.delivered.Load()}
}

// phaseResult is what a send phase measured.
type phaseResult struct {
	start, warm, stop counters
	drained           bool
	drainTime         time.Duration
}

// run is the send phase: start the senders, stop them at the duration or
// message cap, then wait (bounded) until every in-flight message is acked
// and delivered.
func (e *engine) run(ctx context.Context) phaseResult {
	var res phaseResult
	start := time.Now()
	e.warmNanos.Store(start.Add(e.p.warmup).UnixNano())
	res.start = counters{at: start}
	res.warm = res.start

	phaseCtx, cancel := context.WithTimeout(ctx, e.p.duration)
	defer cancel()
	var wg sync.WaitGroup
	n := len(e.senders)
	for i, s := range e.senders {
		var phase time.Duration
		if e.p.interval > 0 {
			phase = e.p.interval * time.Duration(i) / time.Duration(n)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runSender(phaseCtx, s, start, phase)
		}()
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()

	var tick <-chan time.Time
	if e.p.progress > 0 {
		t := time.NewTicker(e.p.progress)
		defer t.Stop()
		tick = t.C
	}
	warmTimer := time.NewTimer(e.p.warmup)
	defer warmTimer.Stop()
	last := res.start
loop:
	for {
		select {
		case <-phaseCtx.Done():
			break loop
		case <-sendersDone:
			break loop
		case <-warmTimer.C:
			res.warm = e.snapshot()
		case <-tick:
			now := e.snapshot()
			dt := now.at.Sub(last.at).Seconds()
			fmt.Fprintf(e.log, "[%s] %5.1fs sent %d acked %d delivered %d  (%.0f deliveries/s, %.0f acks/s) in flight %d\n",
				e.p.label, now.at.Sub(start).Seconds(), now.sent, now.acked, now.delivered,
				float64(now.delivered-last.delivered)/dt, float64(now.acked-last.acked)/dt, now.sent-now.acked)
			last = now
		}
	}
	res.stop = e.snapshot()
	cancel()

	// Drain: senders stop at their next wait; a sender blocked in Write
	// is released when the connections close below.
	drainCtx, dcancel := context.WithTimeout(ctx, e.p.drainTimeout)
	defer dcancel()
	select {
	case <-sendersDone:
	case <-drainCtx.Done():
	}
	res.drained = true
	for _, s := range e.senders {
		for got := 0; got < cap(s.free); {
			// Wait for the slots still busy to come back.
			select {
			case <-s.free:
				got++
			case <-drainCtx.Done():
				res.drained = false
				got = cap(s.free)
			}
		}
	}
	res.drainTime = time.Since(res.stop.at)
	return res
}

// closeAll closes every connection and waits (bounded) for the readers.
func (e *engine) closeAll() {
	e.closing.Store(true)
	for _, c := range e.conns {
		if c.ws != nil {
			_ = c.ws.CloseNow()
		}
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for _, c := range e.conns {
		if c.ws == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline.C:
			return
		}
	}
}

// loss accounts every room after the readers stopped.
func (e *engine) loss() Loss {
	var total Loss
	for r, room := range e.rooms {
		members := make([]roomMember, 0, len(e.p.plan.members[r]))
		for _, ci := range e.p.plan.members[r] {
			c := e.conns[ci]
			members = append(members, roomMember{sender: c.sender, recv: &c.recv})
		}
		total = total.add(account(room, members))
	}
	return total
}

// sortedCounts renders a count map as "k=v" pairs in key order.
func sortedCounts(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + strconv.FormatInt(m[k], 10)
	}
	return out
}

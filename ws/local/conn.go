package local

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// Close codes used by the hub.
const (
	CloseCodeSlowConsumer = ws.CloseSlowConsumer
	CloseCodeRemoved      = ws.CloseRemoved
)

// conn is the hub's state of one connection: its rooms with their delivery
// watermarks and its outgoing queue. An idle connection holds no queue
// slice, only at most the small spare one its writer handed back (spare).
type conn struct {
	// info is the connection as registered; its ExpiresAt and Admin are
	// not kept up to date there (read by anyone, without a lock): the
	// current ones are expiresAt and admin (Connection).
	info tripsense.Connection
	// sendLimiter and ctlLimiter are the connection's budgets for
	// sendMessage and for every other frame; nil when unlimited.
	sendLimiter *rate.Limiter
	ctlLimiter  *rate.Limiter
	// slowCloses is the hub's count of slow-consumer closes (nil: none).
	slowCloses *atomic.Int64
	// admin and expiresAt (Unix ns; 0: none) are the connection's admin
	// flag and expiry now: an auth refresh changes them (Hub.SetAdmin,
	// Hub.SetExpiry) while others read them, the reader for every frame.
	admin     atomic.Bool
	expiresAt atomic.Int64

	mu    sync.Mutex
	marks map[string]*tripsense.Watermark // rooms this connection receives
	queue []tripsense.Outbound
	// spare is the slice of the writer's last batch, emptied, kept for the
	// next queue when it holds at most maxSpareFrames: a busy connection
	// then allocates no queue per batch, and an idle one keeps at most
	// maxSpareFrames*56 bytes.
	spare []tripsense.Outbound
	// waitBytes is how many bytes of waiting pushes (Outbound.Wait: the
	// connection's own sync) are queued or in the writer's batch, not yet
	// written: the sync's byte budget (queueLimits.waitBytes) bounds it.
	waitBytes int
	// expiry closes the connection with CloseExpired at its token's exp;
	// nil without a token (dev identity). SetExpiry moves it.
	expiry      *time.Timer
	closing     bool
	closeCode   int
	closeReason string

	// The writer runs only while there is something to write (a queued
	// frame, a due ping, the close frame): an idle connection has no
	// writer goroutine, only its reader. startWriter starts a run on a
	// goroutine of its own; it is nil until the socket is served (frames
	// queued before wait for it). writing is true from a run's start
	// until it finds nothing to do, so there is never more than one.
	startWriter func()
	writing     bool
	pingDue     bool          // the ping timer fired; the next run pings
	pingTimer   *time.Timer   // re-arms itself every ping interval
	finished    chan struct{} // closed when the last run ended (close sent, or the write failed)

	space chan struct{} // cap 1: the writer drained the queue
	done  chan struct{} // closed when the connection starts closing
	// batchOut is true while the writer has a batch out: taken from the
	// queue, not yet recorded in marks. written is made only for someone
	// who waits for that batch (Unregister), and closed once the batch's
	// deliveries are recorded (or the write failed).
	batchOut bool
	written  chan struct{}
}

// maxSpareFrames bounds the queue slice a connection keeps for reuse.
const maxSpareFrames = 16

// takeQueueLocked returns c.queue, made non-nil from the spare (or with
// room for n frames) when it was empty. Called with mu held.
func (c *conn) takeQueueLocked(n int) []tripsense.Outbound {
	if c.queue == nil {
		if c.spare != nil && cap(c.spare) >= n {
			c.queue, c.spare = c.spare, nil
		} else {
			c.queue = make([]tripsense.Outbound, 0, max(n, 1))
		}
	}
	return c.queue
}

// writtenLocked returns a channel closed once the batch the writer has out
// is recorded, or nil when it has none. Called with mu held.
func (c *conn) writtenLocked() chan struct{} {
	if !c.batchOut {
		return nil
	}
	if c.written == nil {
		c.written = make(chan struct{})
	}
	return c.written
}

// unregisterWait bounds how long Unregister waits for the writer to record
// the batch it is writing. A batch already on the wire is recorded within
// microseconds; one stuck on a dead peer does not count anyway, and the
// wait only keeps a just-delivered frame from being missed by the cursor.
const unregisterWait = time.Second

func newConn(info tripsense.Connection) *conn {
	c := &conn{
		info:     info,
		marks:    make(map[string]*tripsense.Watermark),
		space:    make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	c.admin.Store(info.Admin)
	if !info.ExpiresAt.IsZero() {
		c.expiresAt.Store(info.ExpiresAt.UnixNano())
	}
	return c
}

// Connection is the connection as it is now: info with its current expiry
// and admin flag.
func (c *conn) Connection() tripsense.Connection {
	out := c.info
	out.Admin = c.admin.Load()
	out.ExpiresAt = time.Time{}
	if ns := c.expiresAt.Load(); ns != 0 {
		out.ExpiresAt = time.Unix(0, ns).UTC()
	}
	return out
}

// kickLocked starts a writer run unless one is running or the socket is
// not served yet. Called with mu held whenever there is something to
// write.
func (c *conn) kickLocked() {
	if c.writing || c.startWriter == nil {
		return
	}
	c.writing = true
	c.startWriter()
}

// serve attaches the socket's writer (start runs one writer run on a
// goroutine of its own) and pings every pingEvery: frames queued before
// are written now.
func (c *conn) serve(start func(), pingEvery time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startWriter = start
	if !c.closing {
		c.pingTimer = time.AfterFunc(pingEvery, func() {
			c.mu.Lock()
			if !c.closing {
				c.pingDue = true
				c.kickLocked()
				c.pingTimer.Reset(pingEvery)
			}
			c.mu.Unlock()
		})
	}
	if c.closing || len(c.queue) > 0 {
		c.kickLocked()
	}
}

// writerJob is what a writer run does next (conn.next).
type writerJob int

const (
	jobIdle  writerJob = iota // nothing to write: the run ends
	jobClose                  // the connection is closing: send the close frame
	jobPing                   // the ping timer fired
	jobBatch                  // write the queued frames
)

// next is a writer run's next job, taken under one lock: the close (with
// its code and reason), a due ping, the queued frames (the batch, recorded
// by recordBatch), or nothing, in which case the run ends (writing is false
// again, so the next frame starts a new run).
func (c *conn) next() (job writerJob, batch []tripsense.Outbound, code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closing:
		return jobClose, nil, c.closeCode, c.closeReason
	case c.pingDue: // first: a connection that always has frames queued must still ping
		c.pingDue = false
		return jobPing, nil, 0, ""
	case len(c.queue) > 0:
		batch = c.queue
		c.queue = nil
		c.batchOut = true
		return jobBatch, batch, 0, ""
	}
	c.writing = false
	return jobIdle, nil, 0, ""
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// queueLimits bound a connection's queue (see Hub).
type queueLimits struct {
	// frames is the queue's bound in frames; waiting pushes may fill half.
	frames int
	// waitBytes bounds the bytes of waiting pushes queued or being
	// written; one frame always fits.
	waitBytes int
	// onWait, when set, runs each time a waiting push starts to wait
	// (tests).
	onWait func()
}

func (c *conn) enqueue(ctx context.Context, out tripsense.Outbound, lim queueLimits) error {
	c.mu.Lock()
	for {
		if c.closing {
			c.mu.Unlock()
			return tripsense.ErrGone
		}
		// A waiting push (a connection's own catch-up) may fill only half
		// the queue, and only up to its byte budget counting the batch
		// being written: the rest stays for live messages and replies,
		// which would otherwise find it full and close the connection, and
		// an unread sync holds about waitBytes, not half the queue's frames
		// at their largest.
		if !out.Wait {
			if len(c.queue) < lim.frames {
				break
			}
			c.closeLocked(CloseCodeSlowConsumer, "slow consumer: outgoing queue full; reconnect and sync")
			c.mu.Unlock()
			return tripsense.ErrGone
		}
		if len(c.queue) < lim.frames/2 && (c.waitBytes == 0 || c.waitBytes+len(out.Data) <= lim.waitBytes) {
			c.waitBytes += len(out.Data)
			break
		}
		c.mu.Unlock()
		if lim.onWait != nil {
			lim.onWait()
		}
		select {
		case <-c.space:
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.queue = append(c.takeQueueLocked(1), out)
	c.kickLocked()
	c.mu.Unlock()
	return nil
}

// enqueueBatch queues every frame of outs that c did not send itself
// (senders[i] sent outs[i]), as enqueue would one by one, under one lock
// and with one wake-up of the writer. A queue that cannot take them all
// closes the connection as a slow consumer. The batch never waits for
// room (it is live fan-out); a waiting push in it would still count in
// waitBytes, as enqueue counts it, so that releaseWaitBytes stays exact.
func (c *conn) enqueueBatch(outs []tripsense.Outbound, senders []string, lim queueLimits) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	n := 0
	for i := range outs {
		if senders[i] != c.info.ID {
			n++
		}
	}
	if n == 0 {
		return
	}
	if len(c.queue)+n > lim.frames {
		c.closeLocked(CloseCodeSlowConsumer, "slow consumer: outgoing queue full; reconnect and sync")
		return
	}
	empty := len(c.queue) == 0 // else a run is on its way
	c.takeQueueLocked(n)
	for i := range outs {
		if senders[i] != c.info.ID {
			c.queue = append(c.queue, outs[i])
			if outs[i].Wait {
				c.waitBytes += len(outs[i].Data)
			}
		}
	}
	if empty {
		c.kickLocked()
	}
}

// releaseWaitBytes ends the byte accounting of the waiting pushes among
// frames (written, failed or dropped). Called with mu held.
func (c *conn) releaseWaitBytes(frames []tripsense.Outbound) {
	for i := range frames {
		if frames[i].Wait {
			c.waitBytes -= len(frames[i].Data)
		}
	}
}

// recordBatch records the deliveries of a batch the writer took (ok: it
// reached the socket) and ends the batch, so that an Unregister waiting for
// it reads the watermarks with this batch counted. A sync's batch
// (Outbound.Through) counts everything up to its index.
func (c *conn) recordBatch(batch []tripsense.Outbound, ok bool) {
	c.mu.Lock()
	c.releaseWaitBytes(batch)
	if ok {
		// A batch is mostly runs of one room: its watermark is looked up
		// once per run.
		var room string
		var wm *tripsense.Watermark
		for i := range batch {
			f := &batch[i]
			if f.Index <= 0 {
				continue
			}
			if wm == nil || f.Room != room {
				room, wm = f.Room, c.marks[f.Room]
			}
			recordDelivery(wm, f.Index, f.Through)
		}
	}
	c.batchOut = false
	if c.written != nil {
		close(c.written)
		c.written = nil
	}
	if cap(batch) <= maxSpareFrames && !c.closing {
		clear(batch) // the frames' data is the GC's once written
		c.spare = batch[:0]
	}
	c.mu.Unlock()
}

func (c *conn) delivered(room string, index int64, through bool) {
	c.mu.Lock()
	recordDelivery(c.marks[room], index, through)
	c.mu.Unlock()
}

// recordDelivery records index in wm (nil: the connection does not receive
// the room).
func recordDelivery(wm *tripsense.Watermark, index int64, through bool) {
	if wm == nil {
		return
	}
	if through {
		wm.SeenThrough(index) // a sync's batch: everything up to index
	} else {
		wm.Delivered(index)
	}
}

func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

func (c *conn) closeLocked(code int, reason string) {
	if c.closing {
		return
	}
	c.closing = true
	if code == CloseCodeSlowConsumer && c.slowCloses != nil {
		c.slowCloses.Add(1)
	}
	c.closeCode = code
	c.closeReason = reason
	c.releaseWaitBytes(c.queue)
	c.queue, c.spare = nil, nil
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	close(c.done)
	c.kickLocked() // the writer sends the close frame
}

// pushFront queues data ahead of every frame queued so far: the authed
// answer of first-frame authentication, which must be the connection's
// first frame although live messages may have reached the queue since
// Register. Only before the writer started.
func (c *conn) pushFront(data []byte) {
	c.mu.Lock()
	if !c.closing {
		c.queue = append([]tripsense.Outbound{{Data: data}}, c.queue...)
		c.kickLocked()
	}
	c.mu.Unlock()
}

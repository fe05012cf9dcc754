package ws

import (
	"context"
	"sync"
	"time"

	"github.com/tripsense/tripsense"
)

// orderWait bounds how long a message waits for a lower index of its room
// to be handed out first. Only an index whose sender failed after the
// store committed it (a timeout at the wrong moment) is never handed out;
// the messages after it then wait this long once.
const orderWait = 250 * time.Millisecond

// roomOrder hands each room's messages to fan-out in index order within one
// process. A send enters its room before Append and leaves after its
// fan-out; the room's state exists only while sends are in flight, and is
// created with the room's head, which at that moment has been fully handed
// out (no send of the room is in flight).
type roomOrder struct {
	mu    sync.Mutex
	rooms map[string]*roomSeq
}

// roomSeq is one room's hand-out position.
type roomSeq struct {
	inflight int // guarded by roomOrder.mu

	mu        sync.Mutex
	published int64             // highest index handed out
	changed   chan struct{}     // closed and replaced when published moves
	ready     map[int64]fanItem // offered, waiting for the lower indexes
	busy      bool              // a run is being handed out (outside mu)
	keyed     map[sendKey]*keyState
}

// fanItem is one message offered to its room's hand-out: its frame and the
// sender's connection, which does not get it. A nil frame only marks the
// index as handed out (a duplicate's recovery, see finishSend).
type fanItem struct {
	index  int64
	sender string
	out    tripsense.Outbound
}

// sendKey is what the store deduplicates a send of the room on.
type sendKey struct{ user, clientMsgID string }

// keyState tracks the sends of one key that may still hand out the key's
// index: those inside Append (any of them may turn out the original) and
// the original until its fan-out is done.
type keyState struct {
	next    uint64              // number of the next claim
	active  map[uint64]struct{} // claims that may still hand out the index
	changed chan struct{}       // closed and replaced when a claim ends
}

// claim is one send's registration under its key (nil for a send without
// clientMsgId, which the store never deduplicates).
type claim struct {
	key  sendKey
	ks   *keyState
	id   uint64
	done bool
}

// enter registers a send to room. head reads the room's head; it is called
// only when the room has no send in flight.
func (o *roomOrder) enter(room string, head func() (int64, error)) (*roomSeq, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.rooms[room]
	if q == nil {
		h, err := head()
		if err != nil {
			return nil, err
		}
		if o.rooms == nil {
			o.rooms = make(map[string]*roomSeq)
		}
		q = &roomSeq{published: h, changed: make(chan struct{})}
		o.rooms[room] = q
	}
	q.inflight++
	return q, nil
}

// leave ends a send entered with enter.
func (o *roomOrder) leave(room string, q *roomSeq) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if q.inflight--; q.inflight == 0 {
		delete(o.rooms, room)
	}
}

// offer makes it ready for hand-out: whichever handOut runs when every
// lower index is handed out pushes it, together with the ready indexes
// right above it. An index offered already is ignored. It returns false
// for an index at or below the hand-out position: one that was given up
// (it came later than orderWait), which the caller pushes itself, late.
func (q *roomSeq) offer(it fanItem) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if it.index <= q.published {
		return false
	}
	if _, ok := q.ready[it.index]; ok {
		return true
	}
	if q.ready == nil {
		q.ready = make(map[int64]fanItem)
	}
	q.ready[it.index] = it
	return true
}

// handOut returns once index (offered before) has been handed out. When
// the room's next index is ready and no run is being handed out, the
// caller takes the whole run of consecutive ready indexes and hands it out
// with fan, in index order, outside the lock (runs of one room never
// overlap); a sender whose message was in another's run only waits for it.
// So the messages of one commit go out as one run: each recipient's
// connection gets them in one push (one write), not one by one. A lower
// index that is not offered within orderWait of this call's start is given
// up (its send failed after the commit): the indexes ready below index go
// out first, in order, so only the gap is skipped.
func (o *roomOrder) handOut(q *roomSeq, index int64, fan func([]fanItem)) {
	var timer *time.Timer
	expired := false
	q.mu.Lock()
	for index > q.published {
		if !q.busy {
			_, next := q.ready[q.published+1]
			if !next && expired {
				// Give up the gap below the lowest ready index; index
				// itself is ready, so there is one.
				q.published = q.lowestReady() - 1
				next = true
			}
			if next {
				run := q.takeRun()
				q.busy = true
				q.mu.Unlock()
				fan(run)
				q.mu.Lock()
				q.busy = false
				q.published = run[len(run)-1].index
				close(q.changed)
				q.changed = make(chan struct{})
				continue
			}
		}
		if timer == nil {
			timer = time.NewTimer(orderWait)
			defer timer.Stop()
		}
		ch := q.changed
		q.mu.Unlock()
		if expired {
			<-ch // a run is being handed out; it ends
		} else {
			select {
			case <-ch:
			case <-timer.C:
				expired = true
			}
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
}

// takeRun removes and returns the ready indexes from published+1 up, as
// long as they are consecutive (at least one). Called with q.mu held.
func (q *roomSeq) takeRun() []fanItem {
	var run []fanItem
	for i := q.published + 1; ; i++ {
		it, ok := q.ready[i]
		if !ok {
			return run
		}
		delete(q.ready, i)
		run = append(run, it)
	}
}

// lowestReady returns the lowest ready index (0 when none is). Called with
// q.mu held.
func (q *roomSeq) lowestReady() int64 {
	var low int64
	for i := range q.ready {
		if low == 0 || i < low {
			low = i
		}
	}
	return low
}

// claim registers a send with clientMsgID before its Append, so that a
// concurrent retry of it that turns out a duplicate can wait for this send's
// hand-out. It returns nil when clientMsgID is empty.
func (q *roomSeq) claim(user, clientMsgID string) *claim {
	if clientMsgID == "" {
		return nil
	}
	k := sendKey{user, clientMsgID}
	q.mu.Lock()
	defer q.mu.Unlock()
	ks := q.keyed[k]
	if ks == nil {
		if q.keyed == nil {
			q.keyed = make(map[sendKey]*keyState)
		}
		ks = &keyState{active: make(map[uint64]struct{}), changed: make(chan struct{})}
		q.keyed[k] = ks
	}
	c := &claim{key: k, ks: ks, id: ks.next}
	ks.next++
	ks.active[c.id] = struct{}{}
	return c
}

// release ends c: its send will hand out nothing (more). The original
// releases after its fan-out, a duplicate as soon as Append said so, a
// failed send when it returns. Releasing twice or nil does nothing.
func (q *roomSeq) release(c *claim) {
	if c == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked(c)
}

func (q *roomSeq) releaseLocked(c *claim) {
	if c.done {
		return
	}
	c.done = true
	delete(c.ks.active, c.id)
	close(c.ks.changed)
	c.ks.changed = make(chan struct{})
	if len(c.ks.active) == 0 && q.keyed[c.key] == c.ks {
		delete(q.keyed, c.key)
	}
}

// awaitOriginal is called by a send whose Append returned a duplicate: it
// releases c and waits until no send of the same key that claimed before
// this point may still hand out the index, i.e. until the original (if it
// is in flight in this process) finished its fan-out or failed. Sends that
// claim later cannot be the original: the message is stored already. It
// returns ctx's error if ctx ends first.
func (q *roomSeq) awaitOriginal(ctx context.Context, c *claim) error {
	if c == nil {
		return nil
	}
	q.mu.Lock()
	q.releaseLocked(c)
	before := c.ks.next
	for {
		pending := false
		for id := range c.ks.active {
			if id < before {
				pending = true
				break
			}
		}
		if !pending {
			q.mu.Unlock()
			return nil
		}
		ch := c.ks.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
}

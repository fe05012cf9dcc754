package ws

import (
	"context"
	"slices"
	"sync"

	"github.com/tripsense/tripsense"
)

// roomOrder hands each room's messages to fan-out in index order within one
// process. A send enters its room before Append and leaves after its
// fan-out; the room's state exists only while sends are in flight, and is
// created with the room's head, which at that moment has been fully handed
// out (no send of the room is in flight).
//
// A lower index that has not been offered yet is waited for as long as a
// send that may hold it is unresolved (entered, its Append not returned);
// it is given up only when none is, i.e. when its send failed after the
// store committed it (a timeout at the wrong moment). There is no timer: a
// slow send (a descheduled goroutine, a long commit) keeps its place, and
// every send resolves, because every entered send is released (bounded by
// its context).
type roomOrder struct {
	mu    sync.Mutex
	rooms map[string]*roomSeq
}

// roomSeq is one room's hand-out position.
type roomSeq struct {
	inflight int // guarded by roomOrder.mu

	mu        sync.Mutex
	published int64             // highest index handed out
	changed   chan struct{}     // closed and replaced when published or lowEntry moves (with waiters)
	waiters   int               // handOut calls blocked on changed
	ready     map[int64]fanItem // offered, waiting for the lower indexes
	busy      bool              // a run is being handed out (outside mu)
	keyed     map[sendKey]*keyState

	// Entries: every send that enters gets the next entry number; it is
	// resolved when its Append returned (offered, a duplicate, or failed).
	// lowEntry is the lowest unresolved entry number (nextEntry when every
	// entered send is resolved); resolvedAbove holds the resolved entries
	// above it.
	nextEntry     int64
	lowEntry      int64
	resolvedAbove map[int64]struct{}
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
	next    uint64        // number of the next claim
	active  []uint64      // claims that may still hand out the index (almost always one)
	changed chan struct{} // made by a waiter, closed (and dropped) when a claim ends
}

// claim is one send's registration under its key (nil for a send without
// clientMsgId, which the store never deduplicates).
type claim struct {
	key  sendKey
	ks   *keyState
	id   uint64
	done bool
}

// enter registers a send to room and returns the room's sequence and the
// send's entry number. head reads the room's head; it is called only when
// the room has no send in flight.
func (o *roomOrder) enter(room string, head func() (int64, error)) (*roomSeq, int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.rooms[room]
	if q == nil {
		h, err := head()
		if err != nil {
			return nil, 0, err
		}
		if o.rooms == nil {
			o.rooms = make(map[string]*roomSeq)
		}
		q = &roomSeq{published: h, changed: make(chan struct{})}
		o.rooms[room] = q
	}
	q.inflight++
	q.mu.Lock()
	entry := q.nextEntry
	q.nextEntry++
	q.mu.Unlock()
	return q, entry, nil
}

// leave ends a send entered with enter.
func (o *roomOrder) leave(room string, q *roomSeq) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if q.inflight--; q.inflight == 0 {
		delete(o.rooms, room)
	}
}

// resolve marks entry resolved: its send will offer no index (it failed or
// was a duplicate). A negative entry (resolved already) does nothing.
func (q *roomSeq) resolve(entry int64) {
	if entry < 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.resolveLocked(entry)
}

func (q *roomSeq) resolveLocked(entry int64) {
	if entry != q.lowEntry {
		if q.resolvedAbove == nil {
			q.resolvedAbove = make(map[int64]struct{})
		}
		q.resolvedAbove[entry] = struct{}{}
		return
	}
	q.lowEntry++
	for len(q.resolvedAbove) > 0 {
		if _, ok := q.resolvedAbove[q.lowEntry]; !ok {
			break
		}
		delete(q.resolvedAbove, q.lowEntry)
		q.lowEntry++
	}
	if q.waiters > 0 {
		// A waiting hand-out may now give up a gap.
		q.wake()
	}
}

// wake wakes the blocked hand-outs. Called with q.mu held.
func (q *roomSeq) wake() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// offer makes it ready for hand-out and resolves entry (the send's entry
// number; negative when resolved already): whichever handOut runs when
// every lower index is handed out pushes it, together with the ready
// indexes right above it. An index offered already is ignored. It returns
// the bound to pass to handOut, and false for an index at or below the
// hand-out position (a duplicate's index handed out already), which the
// caller does not push.
func (q *roomSeq) offer(it fanItem, entry int64) (bound int64, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	// Whatever holds an index below this one entered before now: bound.
	bound = q.nextEntry
	if entry >= 0 {
		q.resolveLocked(entry)
	}
	if it.index <= q.published {
		return bound, false
	}
	if _, ok := q.ready[it.index]; ok {
		return bound, true
	}
	if q.ready == nil {
		q.ready = make(map[int64]fanItem)
	}
	q.ready[it.index] = it
	return bound, true
}

// handOut returns once index (offered before, which returned bound) has
// been handed out. When the room's next index is ready and no run is being
// handed out, the caller takes the whole run of consecutive ready indexes
// and hands it out with fan, in index order, outside the lock (runs of one
// room never overlap); a sender whose message was in another's run only
// waits for it. So the messages of one commit go out as one run: each
// recipient's connection gets them in one push (one write), not one by one.
//
// A missing index below index is waited for while a send that entered
// before bound is unresolved: the index was committed before this one, so
// only such a send can hold it. Once all of them are resolved, a missing
// index will never be offered (its send failed after the commit): the
// indexes ready below index go out, in order, and only the gaps are
// skipped (catch-up has those messages).
func (o *roomOrder) handOut(q *roomSeq, index, bound int64, fan func([]fanItem)) {
	q.mu.Lock()
	for index > q.published {
		if !q.busy {
			_, next := q.ready[q.published+1]
			if !next && q.lowEntry >= bound {
				// Every send that may hold a missing index below this
				// one is resolved: give up the gap below the lowest ready
				// index (index itself is ready, so there is one).
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
				q.wake()
				continue
			}
		}
		ch := q.changed
		q.waiters++
		q.mu.Unlock()
		<-ch
		q.mu.Lock()
		q.waiters--
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
		ks = &keyState{}
		q.keyed[k] = ks
	}
	c := &claim{key: k, ks: ks, id: ks.next}
	ks.next++
	ks.active = append(ks.active, c.id)
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
	c.ks.active = slices.DeleteFunc(c.ks.active, func(id uint64) bool { return id == c.id })
	if c.ks.changed != nil {
		close(c.ks.changed)
		c.ks.changed = nil
	}
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
		for _, id := range c.ks.active {
			if id < before {
				pending = true
				break
			}
		}
		if !pending {
			q.mu.Unlock()
			return nil
		}
		if c.ks.changed == nil {
			c.ks.changed = make(chan struct{})
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

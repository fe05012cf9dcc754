package ws

import (
	"sync"
	"time"
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
	published int64              // highest index handed out
	changed   chan struct{}      // closed and replaced when published moves
	waiting   map[int64]struct{} // indexes whose publish is waiting for a lower one
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

// publish runs fn (the fan-out of message index) once every lower index of
// the room has been handed out, and records index as handed out. If a lower
// index does not come within orderWait, only the lowest waiting index gives
// up on it, so the ones above still go out in order. Fan-outs of one room
// never run concurrently.
func (o *roomOrder) publish(q *roomSeq, index int64, fn func()) {
	var timer *time.Timer
	q.mu.Lock()
	for index > q.published+1 {
		if q.waiting == nil {
			q.waiting = make(map[int64]struct{})
		}
		q.waiting[index] = struct{}{}
		if timer == nil {
			timer = time.NewTimer(orderWait)
			defer timer.Stop()
		}
		ch := q.changed
		q.mu.Unlock()
		expired := false
		select {
		case <-ch:
		case <-timer.C:
			expired = true
		}
		q.mu.Lock()
		delete(q.waiting, index)
		if expired && index > q.published+1 {
			if q.lowestWaiting(index) {
				break // the gap below is given up: index goes out next
			}
			timer.Reset(orderWait) // a lower waiter goes first
		}
	}
	fn()
	if index > q.published {
		q.published = index
		close(q.changed)
		q.changed = make(chan struct{})
	}
	q.mu.Unlock()
}

// lowestWaiting reports whether no other publish waits for an index below
// index. Called with q.mu held.
func (q *roomSeq) lowestWaiting(index int64) bool {
	for i := range q.waiting {
		if i < index {
			return false
		}
	}
	return true
}

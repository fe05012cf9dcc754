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
	published int64         // highest index handed out
	changed   chan struct{} // closed and replaced when published moves
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
// the room has been handed out, or after orderWait, and records index as
// handed out. Fan-outs of one room never run concurrently.
func (o *roomOrder) publish(q *roomSeq, index int64, fn func()) {
	var timer *time.Timer
	q.mu.Lock()
	for index > q.published+1 {
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
		if expired {
			break
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

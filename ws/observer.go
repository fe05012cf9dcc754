package ws

import "time"

// Observer is told about the frames Handle receives, for metrics
// (cmd/tripsense passes package metrics' Prometheus collectors; nil
// observes nothing). Its methods are called on the frame's goroutine and
// must be cheap and never block. Everything else is measured around the
// ports (Store, Pusher, Limiter) by decorators, outside the core.
type Observer interface {
	// FrameIn is called once per decoded frame that passed the rate limit,
	// with its action as the client wrote it (any string: an observer
	// bounds its own label values).
	FrameIn(action string)
}

// SendObserver, when the Observer also implements it, is told how long
// each send a Pipeline took (the single binary's sends) spent in the
// server: from Pipeline.Handle, just after the frame was read, until its
// answer (the ack or the error) was queued for the connection. That spans
// the checks, the durable commit, the hand-out to the room's online
// members and the answers before it on the connection; the socket writes
// come after. The call is made on the answering goroutine.
type SendObserver interface {
	SendAnswered(d time.Duration)
}

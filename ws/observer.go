package ws

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

package local

import "time"

// SetAfterWrite makes the writers of s run f after each written batch,
// before the batch's deliveries are recorded.
func SetAfterWrite(s *Server, f func()) { s.afterWrite = f }

// SetOnWait makes h run f each time a waiting push (a connection's sync)
// starts to wait for room in a queue. Set it before the first connection.
func SetOnWait(h *Hub, f func()) { h.onWait = f }

// SetAuthTimeout replaces ws.AuthTimeout for s (first-frame authentication).
func SetAuthTimeout(s *Server, d time.Duration) { s.authTimeout = d }

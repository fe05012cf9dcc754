// Package local is the single-binary realtime runtime: an in-process Hub
// (tripsense.Presence and tripsense.Pusher in memory, one bounded outgoing
// queue per connection) and an http.Handler that upgrades GET /ws to a
// WebSocket and feeds frames to the ws use cases.
//
// Framing uses github.com/gobwas/ws: each connection has a reader
// goroutine and a writer goroutine, and the writer sends every frame queued
// for its connection with one write(2), which is what makes fan-out to big
// rooms cheap (docs/benchmarks.md).
//
// It may import the root package, ws, gobwas/ws and x/time/rate; never a
// concrete store or an AWS SDK.
package local

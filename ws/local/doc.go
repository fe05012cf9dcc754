// Package local is the single-binary realtime runtime: an in-process Hub
// (tripsense.Presence and tripsense.Pusher in memory, one bounded outgoing
// queue and one writer goroutine per connection) and an http.Handler that
// upgrades GET /ws to a WebSocket (github.com/coder/websocket) and feeds
// frames to the ws use cases.
//
// It may import the root package, ws and coder/websocket; never a concrete
// store or an AWS SDK.
package local

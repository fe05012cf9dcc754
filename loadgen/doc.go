// Package loadgen is Tripsense's load generator: `tripsense bench` drives a
// running server over loopback and reports what a user of the server would
// measure from the outside.
//
//   - fanout: C WebSocket connections in rooms of M members; P of them send
//     messages of S bytes (unpaced, or paced to --rate deliveries/s or
//     --send-rate sends/s). Reports delivered messages/s, send-to-receive
//     latency percentiles, and lost, duplicated and foreign deliveries,
//     tracked per (room, index) and per receiver.
//   - catchup: N messages are written while a member is offline; the member
//     then catches up over HTTP (every page of GET /v1/sync, then
//     GET /v1/rooms/{room}/messages?after=) and over WebSocket (the sync
//     action until its synced frame). Reports the end-to-end time of each.
//   - idle: K idle connections; with --pid, the server's RSS per connection
//     (VmRSS and RssAnon from /proc/PID/status before and after).
//   - durable: P concurrent senders, each alone in its room (no fan-out),
//     one message in flight each: acknowledged (durably stored) sends/s.
//
// Every message carries, inside chatMessage, the sender, a window slot, a
// sequence number and the send time in Unix nanoseconds, so receivers
// measure latency without a shared table and return the slot to its sender
// once every receiver has the message (a closed loop that keeps the
// server's per-connection queues bounded at saturation).
//
// The generator talks to 127.0.0.1, ::1 or localhost only: it sends as many
// messages as a server takes and identifies users with the dev identity
// (?userId= and X-User-Id), which a server accepts on loopback only. It
// imports coder/websocket and the standard library; it does not import the
// server's packages, so it measures the wire protocol, not the code.
package loadgen

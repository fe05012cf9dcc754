// Package ws holds the realtime use cases of Tripsense: connect (with the
// duplicate-connection policy), disconnect (which advances read cursors to
// what each connection was really delivered), and the client frames
// sendMessage, markRead, sync and ping. It owns the WebSocket frame protocol
// (docs/protocol.md): decoding, validation and the JSON frames sent back.
//
// It sees only the ports of the root package (Store, Presence, Pusher) and
// the catch-up use cases of sync/ (package catchup). It must not import a
// concrete store, a WebSocket library or an AWS SDK: the runtimes live in
// ws/local (net/http + in-process hub) and ws/apigw (API Gateway + Lambda).
package ws

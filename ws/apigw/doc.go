// Package apigw is the AWS runtime of the realtime use cases: API Gateway
// WebSocket APIs invoke a Lambda function per event, and this package turns
// each events.APIGatewayWebsocketProxyRequest into one call of the ws use
// cases ($connect -> Service.Connect, $disconnect -> Service.Disconnect,
// $default and the named routes -> Service.Handle). Pusher implements
// tripsense.Pusher over the API Gateway Management API (PostToConnection,
// DeleteConnection).
//
// It converts and nothing else: every business rule (membership, the
// duplicate-connection policy, cursors, fan-out) lives in ws and sync. The
// connection registry is a tripsense.Presence that outlives invocations
// (store/dynamo in production), injected by cmd/lambda-ws.
//
// # Differences from ws/local
//
//   - API Gateway cannot send a custom WebSocket close code. Pusher.Close
//     deletes the connection (DeleteConnection); the client sees API
//     Gateway's own close frame, never ws.CloseReplaced or the other 4xxx
//     codes. Clients must treat any close as "reconnect and sync".
//   - Nothing is pushed from $connect: API Gateway accepts posts to a
//     connection only after the $connect integration returned.
//   - A successful PostToConnection is the delivery report: after it the
//     Pusher calls Presence.Delivered for frames that carry a stored
//     message, which is what advances the connection's watermark and so the
//     read cursor written on disconnect.
//   - Frames of one connection may be handled by concurrent invocations, so
//     their answers may arrive in any order; clients match answers by
//     clientMsgId and messages by (chatroomId, index).
//
// It imports the root package, ws, aws-lambda-go's events and the API
// Gateway Management API client types; never a concrete store, and it never
// reads the environment or builds SDK clients itself (cmd/lambda-ws does,
// once per process).
package apigw

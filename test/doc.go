// Package test holds the end-to-end tests: they build the real tripsense
// binary, start it on a free loopback port with a temporary data directory,
// and drive it with Go WebSocket and HTTP clients, wscat and curl exactly as
// the README shows them. Files named aws_* run the same scenarios against
// the Lambda handlers behind the gateway harness in test/gateway.
package test

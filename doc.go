// Package tripsense holds the domain of the Tripsense chat backend: messages,
// rooms, read cursors and connections; the ports (interfaces) that stores,
// presence registries and pushers implement; the validation limits; and one
// error type with stable codes.
//
// This package imports only the standard library. Use cases live in ws/ and
// sync/, adapters in store/, ws/local, ws/apigw and api/, wiring in cmd/.
// A test (deps_test.go) enforces this dependency rule.
package tripsense

// Package memory is an in-memory tripsense.Store: mutex-guarded maps, no
// durability. It is the fake that use-case tests run against, and it passes
// the same behavioural suite (store/storetest) as the durable stores.
//
// It imports only the standard library and the root tripsense package.
package memory

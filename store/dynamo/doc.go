// Package dynamo implements tripsense.Store and tripsense.Presence on Amazon
// DynamoDB with aws-sdk-go-v2, for the Lambda runtime.
//
// Every guarantee of the ports (gap-free per-room indexes, idempotent send,
// forward-only cursors, delivery watermarks) is reached with single-item
// conditional writes only: no transactions, no Scan. That keeps the store
// correct when many Lambda invocations write at once and when one of them
// dies between two writes, and it runs unchanged against dynalite, which has
// no TransactWriteItems. docs/dynamodb.md explains each guarantee, the table
// layout and the number of calls and capacity units per operation.
//
// The key schemas and indexes are defined once, in TableSpecs; CreateTables
// uses them for tests and local emulators, and serverless.yml mirrors them
// (the template's test compares against TableSpecs). CallCounter is an SDK middleware that counts
// calls and consumed capacity per operation.
//
// SDK clients are built by the caller (cmd/) and passed in as the small API
// interface. This package imports the root tripsense package and the AWS
// SDK; it must not import ws, sync, api or any other store.
package dynamo

// Package api is the HTTP API of Tripsense: a chi router with catch-up
// (GET /v1/sync), paged history, read cursors, the user's rooms, room
// membership for admins and a health check. It is plain net/http, so the
// same handler serves the local binary and API Gateway through
// aws-lambda-go-api-proxy. docs/api.md and docs/openapi.yaml describe it; a
// test keeps the OpenAPI file and the router in step.
//
// One middleware turns X-User-Id / ?userId= and "Authorization: Bearer"
// into tripsense.Credentials, asks the configured tripsense.Authenticator
// and puts the Principal into the request context; every /v1 route runs
// behind it. Errors are {"error":{"code":..,"message":..}} with the status
// from one table (tripsense.HTTPStatus, via statusOf); internal details are logged once, never shown.
//
// The package sees the use cases through small interfaces (SyncService,
// implemented by catchup.Service; MemberManager, implemented by the
// realtime service because membership changes also update presence). It
// imports the root package, package catchup, chi and the standard library;
// never a concrete store or an AWS SDK.
package api

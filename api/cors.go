package api

import (
	"net/http"

	"github.com/rs/cors"

	"github.com/tripsense/tripsense"
)

// CORSMaxAge is how long (seconds) a browser may cache a preflight answer.
const CORSMaxAge = 600

// What the CORS answers allow and expose. serverless.yml's CORS of the
// HTTP API (which API Gateway answers itself) lists the same; the template
// test compares them.
var (
	CORSMethods        = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete}
	CORSHeaders        = []string{"Authorization", "Content-Type", "X-User-Id", "X-Request-Id"}
	CORSExposedHeaders = []string{"X-Request-Id", "Retry-After", "WWW-Authenticate"}
)

// corsHandler answers cross-origin requests from the allowed origins
// (tripsense.Origins.AllowsCORS is the rule) with github.com/rs/cors:
// preflight OPTIONS requests get 204 with Access-Control-Allow-Methods,
// -Headers (Authorization, Content-Type, X-User-Id, X-Request-Id) and
// -Max-Age, and every answer, errors included, carries
// Access-Control-Allow-Origin, the exposed headers and Vary: Origin. A
// preflight from another origin gets 204 without them, so the browser
// refuses. Credentials (cookies) are never allowed: the API reads none, a
// caller presents its token in Authorization. "*" answers every origin
// with Access-Control-Allow-Origin: *.
func corsHandler(o tripsense.Origins) func(http.Handler) http.Handler {
	opts := cors.Options{
		AllowedMethods:   CORSMethods,
		AllowedHeaders:   CORSHeaders,
		ExposedHeaders:   CORSExposedHeaders,
		MaxAge:           CORSMaxAge,
		AllowCredentials: false,
	}
	if o.Any() {
		opts.AllowedOrigins = []string{"*"}
	} else {
		opts.AllowOriginFunc = o.AllowsCORS
	}
	return cors.New(opts).Handler
}

// Package clients serves the web client (clients/web) and the SDK's build
// output (clients/js/dist) from files embedded in the binary, so
// `go run ./cmd/tripsense` serves a working chat page at / with no npm step.
// TestSDKBuildIsFresh fails when the committed build output was built from
// other SDK sources than the ones in clients/js/src.
package clients

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web/index.html web/app.js js/dist/*.js js/dist/SOURCE_HASH
var files embed.FS

// Handler serves GET / (the web client's page), /web/ (its script) and
// /web/sdk/ (the SDK's ES modules).
func Handler() http.Handler {
	web, _ := fs.Sub(files, "web")     // embedded paths: cannot fail
	sdk, _ := fs.Sub(files, "js/dist") // embedded paths: cannot fail
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, web, "index.html")
	})
	mux.Handle("GET /web/sdk/", http.StripPrefix("/web/sdk/", noDirs(http.FileServerFS(sdk))))
	mux.Handle("GET /web/", http.StripPrefix("/web/", noDirs(http.FileServerFS(web))))
	return mux
}

// noDirs answers 404 for directory listings.
func noDirs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

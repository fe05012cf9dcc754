package main

import (
	"io"
	"net/http"
	"strconv"
)

// bodyBounds bounds request bodies on the main listener before any handler
// runs: a declared Content-Length over max is refused with 413 without
// reading a byte, any body is capped at max bytes (also when chunked), and
// an error answer to a request with a body closes the connection, so
// net/http never waits to drain a body nobody reads (it would, up to
// 256 KiB and the read timeout, to keep the connection). Requests without a
// body, WebSocket upgrades among them, pass untouched.
func bodyBounds(next http.Handler, max int64) http.Handler {
	tooLarge := `{"error":{"code":"too_large","message":"request body is over ` + strconv.FormatInt(max, 10) + ` bytes"}}` + "\n"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = io.WriteString(w, tooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(&closeOnError{ResponseWriter: w}, r)
	})
}

// closeOnError adds Connection: close to an error answer.
type closeOnError struct {
	http.ResponseWriter
	wrote bool
}

func (c *closeOnError) WriteHeader(code int) {
	if !c.wrote && code >= 400 {
		c.Header().Set("Connection", "close")
	}
	c.wrote = true
	c.ResponseWriter.WriteHeader(code)
}

func (c *closeOnError) Write(b []byte) (int, error) {
	c.wrote = true
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (c *closeOnError) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Flush passes a flush on, for handlers that stream and assert
// http.Flusher directly.
func (c *closeOnError) Flush() {
	c.wrote = true
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tripsense/tripsense"
)

// TestGzipKeepsCatchUpStreamed: a catch-up page of about 1 MiB is gzipped
// for a client that accepts it, still streamed (chunked, no
// Content-Length: the server never held the answer), decompresses to the
// same answer as without gzip, and small answers are not compressed.
func TestGzipKeepsCatchUpStreamed(t *testing.T) {
	t.Parallel()
	m := startMain(t, nil)
	body := strings.Repeat("lorem ipsum dolor sit amet, ", 140) // ~4 KiB
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				nm := tripsense.NewMessage{Room: "uuidroom1", UserID: "uuid1", Body: fmt.Sprintf("%d-%d %s", w, i, body), Type: "text"}
				if _, _, err := m.store.Append(context.Background(), nm); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	get := func(path, enc string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", "http://"+m.Addr()+path, nil)
		req.Header.Set("X-User-Id", "uuid1")
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		// A transport that does not decompress by itself.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	plainResp, plain := get("/v1/sync?limit=1000", "")
	gzResp, gz := get("/v1/sync?limit=1000", "gzip")
	if plainResp.Header.Get("Content-Encoding") != "" || gzResp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("encodings %q %q", plainResp.Header.Get("Content-Encoding"), gzResp.Header.Get("Content-Encoding"))
	}
	if gzResp.ContentLength != -1 || len(gzResp.TransferEncoding) == 0 || gzResp.TransferEncoding[0] != "chunked" {
		t.Fatalf("the gzipped answer is not streamed: Content-Length %d, Transfer-Encoding %v", gzResp.ContentLength, gzResp.TransferEncoding)
	}
	zr, err := gzip.NewReader(strings.NewReader(string(gz)))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(unz) != string(plain) || len(plain) < 900<<10 {
		t.Fatalf("gzipped answer differs (%d vs %d bytes)", len(unz), len(plain))
	}
	t.Logf("GET /v1/sync: %d bytes, gzipped %d (%.1f%%)", len(plain), len(gz), 100*float64(len(gz))/float64(len(plain)))
	if len(gz) > len(plain)/3 {
		t.Errorf("gzip saved too little: %d of %d", len(gz), len(plain))
	}
	// Small answers are sent as they are.
	if r, _ := get("/readyz", "gzip"); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("/readyz gzipped")
	}
	// Allocation per gzipped answer, against the plain one (logged for
	// docs/operations.md; the writers are pooled).
	alloc := func(enc string) uint64 {
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		for range 5 {
			get("/v1/sync?limit=1000", enc)
		}
		runtime.ReadMemStats(&b)
		return (b.TotalAlloc - a.TotalAlloc) / 5
	}
	t.Logf("allocated per answer (server and test client): plain %d KiB, gzip %d KiB", alloc("")>>10, alloc("gzip")>>10)
}

package clients

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sourceHash is clients/js/scripts/build-hash.mjs in Go: sha256 over each
// source file (sorted, path relative to clients/js), NUL, its bytes, NUL.
func sourceHash(t *testing.T) string {
	t.Helper()
	names, err := filepath.Glob("js/src/*.ts")
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, n := range names {
		rel = append(rel, strings.TrimPrefix(filepath.ToSlash(n), "js/"))
	}
	rel = append(rel, "package.json", "tsconfig.json")
	sort.Strings(rel)
	h := sha256.New()
	for _, f := range rel {
		b, err := os.ReadFile(filepath.Join("js", f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f + "\x00"))
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestSDKBuildIsFresh(t *testing.T) {
	recorded, err := files.ReadFile("js/dist/SOURCE_HASH")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(recorded)), sourceHash(t); got != want {
		t.Fatalf("clients/js/dist was built from other sources (recorded %s, sources hash to %s): run `npm run build` in clients/js and commit dist/", got, want)
	}
	srcs, _ := filepath.Glob("js/src/*.ts")
	for _, s := range srcs {
		if strings.HasSuffix(s, ".d.ts") {
			continue
		}
		js := "js/dist/" + strings.TrimSuffix(filepath.Base(s), ".ts") + ".js"
		if _, err := files.ReadFile(js); err != nil {
			t.Errorf("%s has no embedded build output %s", s, js)
		}
	}
}

func TestHandlerServesTheClient(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/":                  "<title>Tripsense</title>",
		"/web/app.js":        "TripsenseClient",
		"/web/sdk/index.js":  "TripsenseClient",
		"/web/sdk/client.js": "class TripsenseClient",
		"/web/sdk/nope.js":   "404",
		"/web/sdk/":          "404",
		"/web/../web.go":     "404",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if want == "404" {
			if resp.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, body without %q", path, resp.StatusCode, want)
		}
		if strings.HasSuffix(path, ".js") && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("GET %s: Content-Type %q (browsers refuse modules that are not JavaScript)", path, resp.Header.Get("Content-Type"))
		}
	}
}

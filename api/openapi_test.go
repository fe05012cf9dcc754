package api_test

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tripsense/tripsense/api"
)

// openAPIRoutes reads "METHOD /path" from the paths section of an OpenAPI
// file in block-style YAML: a path is a key indented by two spaces, an
// operation a key indented by four. docs/openapi.yaml keeps that layout;
// a stray layout shows up as a missing route.
func openAPIRoutes(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	methods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}
	var out []string
	inPaths, path := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, isKey := strings.CutSuffix(strings.TrimSpace(line), ":")
		key = strings.Trim(key, `"'`)
		switch {
		case indent == 0:
			inPaths = line == "paths:"
		case !inPaths || !isKey:
		case indent == 2:
			path = key
		case indent == 4 && methods[key]:
			out = append(out, strings.ToUpper(key)+" "+path)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	spec := openAPIRoutes(t, "../docs/openapi.yaml")
	routes := api.Routes()
	if len(routes) == 0 || len(spec) == 0 {
		t.Fatalf("router has %d routes, OpenAPI %d", len(routes), len(spec))
	}
	t.Logf("router: %v", routes)
	for _, r := range routes {
		if !slices.Contains(spec, r) {
			t.Errorf("route %s is missing from docs/openapi.yaml", r)
		}
	}
	for _, s := range spec {
		if !slices.Contains(routes, s) {
			t.Errorf("docs/openapi.yaml documents %s, which the router does not serve", s)
		}
	}
}

// TestAPIDocCoversRouter checks that docs/api.md has a section per route.
func TestAPIDocCoversRouter(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range api.Routes() {
		if !strings.Contains(string(doc), "## "+r+"\n") && !strings.Contains(string(doc), "## `"+r+"`") {
			t.Errorf("docs/api.md has no section \"## %s\"", r)
		}
	}
}

// TestOpenAPIScanner checks the scanner itself on a small document.
func TestOpenAPIScanner(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/x.yaml"
	doc := "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses: {}\n    parameters: []\n  \"/b/{id}\":\n    # comment\n    delete:\n      x: 1\ncomponents:\n  /c:\n    get: {}\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got := openAPIRoutes(t, file)
	if want := []string{"DELETE /b/{id}", "GET /a"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

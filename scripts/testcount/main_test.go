package main

import (
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"ok output\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"pass","Package":"p","Test":"TestA/sub"}`,
		`{"Action":"fail","Package":"p","Elapsed":1.5}`,
		`go: downloading example.com/x v1.0.0`,
	}, "\n")
	var out strings.Builder
	c, err := count(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.passed != 2 || c.failed != 1 || c.skipped != 1 || !c.pkgFailed {
		t.Fatalf("%+v", c)
	}
	s := out.String()
	for _, want := range []string{"--- FAIL p TestB\n    b_test.go:9: boom\n", "fail p (1.5s)", "go: downloading", "\n2 passed, 1 failed, 1 skipped\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "ok output") {
		t.Error("a passing test's output was printed")
	}
}

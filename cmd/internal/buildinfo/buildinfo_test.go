package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	t.Parallel()
	read := func(bi *debug.BuildInfo) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return bi, bi != nil }
	}
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
	}}
	cases := []struct {
		name, stamped string
		bi            *debug.BuildInfo
		want          Info
	}{
		{"stamped wins", "v1.2.3-4-gabc", vcs, Info{Version: "v1.2.3-4-gabc", Revision: "0123456789ab-dirty", GoVersion: "go1.26.8"}},
		{"a checkout build without a stamp", "", vcs, Info{Version: "devel", Revision: "0123456789ab-dirty", GoVersion: "go1.26.8"}},
		{"go install of a tagged module", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}}, Info{Version: "v0.4.0", GoVersion: "go1.26.8"}},
	}
	for _, tc := range cases {
		got := get(tc.stamped, read(tc.bi))
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got := get("", read(nil)); got.Version != "devel" || got.GoVersion == "" {
		t.Errorf("no build info: %+v", got)
	}
	s := get("", read(vcs)).String()
	if !strings.HasPrefix(s, "tripsense devel (commit 0123456789ab-dirty) go1.26.8 ") {
		t.Errorf("String: %q", s)
	}
}

// Package buildinfo says which build of Tripsense is running: the version
// stamped by the build (`-ldflags "-X
// github.com/tripsense/tripsense/cmd/internal/buildinfo.version=$(git
// describe --tags --always --dirty)"`, as the Makefile, scripts/lambda.sh and
// the Dockerfile do), or else what the Go toolchain recorded in the binary
// (runtime/debug.ReadBuildInfo: the module version, or the VCS revision of
// a build inside a git checkout).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set with -ldflags -X at build time; empty otherwise.
var version string

// Info describes the running build.
type Info struct {
	// Version is the stamped version (git describe), or the module
	// version Go recorded, or "devel".
	Version string
	// Revision is the VCS commit Go recorded ("" when unknown), with
	// "-dirty" when the work tree had changes.
	Revision string
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get returns the running build's Info.
func Get() Info {
	return get(version, debug.ReadBuildInfo)
}

func get(stamped string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: stamped, GoVersion: runtime.Version()}
	bi, ok := read()
	if ok {
		var rev string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && dirty {
			rev += "-dirty"
		}
		info.Revision = rev
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// String is the one-line form `tripsense version` prints.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString("tripsense ")
	b.WriteString(i.Version)
	if i.Revision != "" && !strings.Contains(i.Version, strings.TrimSuffix(i.Revision, "-dirty")[:min(7, len(i.Revision))]) {
		b.WriteString(" (commit " + i.Revision + ")")
	}
	b.WriteString(" " + i.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH)
	return b.String()
}

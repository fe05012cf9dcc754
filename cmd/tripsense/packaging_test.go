package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

const repo = "../.."

// env2 turns KEY=VALUE pairs into a getenv.
func env2(pairs map[string]string) func(string) string {
	return func(k string) string { return pairs[k] }
}

// TestDockerfile parses the Dockerfile with BuildKit's own parser (no
// daemon runs here) and checks what docs/operations.md promises: a static
// build with go.mod's Go version, a non-root final stage on a small base,
// the data volume, a health check the binary answers itself, and an
// environment the server accepts (token mode needing only the secret).
func TestDockerfile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	type inst struct {
		cmd   string
		args  []string
		flags []string
		json  bool
	}
	var stages [][]inst
	for _, n := range res.AST.Children {
		var args []string
		for a := n.Next; a != nil; a = a.Next {
			args = append(args, a.Value)
		}
		in := inst{cmd: strings.ToLower(n.Value), args: args, flags: n.Flags, json: n.Attributes["json"]}
		if in.cmd == "from" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "arg" {
				t.Fatalf("%s before the first FROM", in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build and a final one", len(stages))
	}
	gomod, _ := os.ReadFile(filepath.Join(repo, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	build, final := stages[0], stages[1]
	if from := build[0].args; len(from) != 3 || !strings.HasPrefix(from[0], "golang:"+string(goVersion[1])+"-") || strings.ToLower(from[1]) != "as" {
		t.Errorf("build stage FROM %q: want golang:%s-… AS build (go.mod's version)", from, goVersion[1])
	}
	buildName := build[0].args[2]
	runs := ""
	for _, in := range build {
		if in.cmd == "run" {
			runs += strings.Join(in.args, " ")
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/tripsense", "buildinfo.version=${VERSION}"} {
		if !strings.Contains(runs, want) {
			t.Errorf("the build does not say %q: %s", want, runs)
		}
	}
	if base := final[0].args[0]; !strings.HasPrefix(base, "gcr.io/distroless/static") && !strings.HasPrefix(base, "scratch") {
		t.Errorf("final base %q: want a small static base (distroless/static or scratch)", base)
	}
	seen := map[string]inst{}
	envs := map[string]string{}
	for _, in := range final {
		seen[in.cmd] = in
		switch in.cmd {
		case "copy":
			ok := false
			for _, fl := range in.flags {
				ok = ok || fl == "--from="+buildName
			}
			if !ok {
				t.Errorf("COPY %v does not copy from the build stage", in.args)
			}
		case "env":
			for i := 0; i+1 < len(in.args); i += 3 { // key, value, separator
				envs[in.args[i]] = in.args[i+1]
			}
		case "run":
			t.Errorf("RUN in the final stage (a distroless base has no shell): %v", in.args)
		}
	}
	if u := seen["user"]; len(u.args) != 1 || u.args[0] == "root" || strings.HasPrefix(u.args[0], "0") {
		t.Errorf("USER %v: want a non-root user", u.args)
	}
	if v := seen["volume"]; len(v.args) != 1 || v.args[0] != "/data" || envs["TRIPSENSE_DATA"] != "/data" {
		t.Errorf("VOLUME %v, TRIPSENSE_DATA %q: want the store on /data", v.args, envs["TRIPSENSE_DATA"])
	}
	hc := seen["healthcheck"]
	if hc.cmd == "" || !strings.Contains(strings.Join(hc.args, " "), "/usr/local/bin/tripsense healthcheck") {
		t.Errorf("HEALTHCHECK %v: want the binary's own healthcheck", hc.args)
	}
	if ep := seen["entrypoint"]; !ep.json || len(ep.args) != 1 || ep.args[0] != "/usr/local/bin/tripsense" {
		t.Errorf("ENTRYPOINT %v (exec form wanted)", ep.args)
	}
	// The image's environment, plus the one variable the operator adds,
	// is a configuration the server accepts.
	envs["TRIPSENSE_TOKEN_SECRET"] = strings.Repeat("s", 40)
	if c, err := parseServeConfig(nil, env2(envs), io.Discard); err != nil {
		t.Errorf("the image's environment is refused: %v (%v)", err, envs)
	} else if c.ConnLimitPerIP != 0 || c.ConnectRate != 0 {
		// Behind a proxy every client has the proxy's address.
		t.Errorf("the image keeps limits per client address (per-IP cap %d, connect rate %d): a proxy in front makes every client one address", c.ConnLimitPerIP, c.ConnectRate)
	}
	// The health check answers for a running server on the image's address.
	m := startMain(t, nil)
	var out bytes.Buffer
	_, port, _ := strings.Cut(m.Addr(), ":")
	if code := run(context.Background(), []string{"healthcheck"}, env2(map[string]string{"TRIPSENSE_ADDR": "0.0.0.0:" + port}), &out, &out); code != 0 {
		t.Errorf("healthcheck: exit %d %s", code, out.String())
	}
	if code := run(context.Background(), []string{"healthcheck", "--addr", "127.0.0.1:1"}, env2(nil), &out, &out); code != 1 {
		t.Errorf("healthcheck of nothing: exit %d", code)
	}
}

// TestSystemdUnit reads the unit file: the sections, a service user,
// the binary, the state directory as the data directory, and an
// Environment= the server accepts.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repo, "packaging", "systemd", "tripsense.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	section := ""
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[' && l[len(l)-1] == ']':
			section = l[1 : len(l)-1]
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				t.Fatalf("line %d: %q is not key=value in a section", line, l)
			}
			keys[section+"."+k] = append(keys[section+"."+k], v)
		}
	}
	for k, want := range map[string]string{
		"Service.ExecStart": "/usr/local/bin/tripsense serve", "Service.User": "tripsense", "Service.StateDirectory": "tripsense",
		"Service.KillSignal": "SIGTERM", "Install.WantedBy": "multi-user.target", "Service.NoNewPrivileges": "true",
	} {
		if v := keys[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s = %v, want %q", k, v, want)
		}
	}
	envs := map[string]string{"TRIPSENSE_TOKEN_SECRET": strings.Repeat("s", 40)}
	for _, e := range keys["Service.Environment"] {
		k, v, _ := strings.Cut(e, "=")
		envs[k] = v
	}
	if envs["TRIPSENSE_DATA"] != "/var/lib/tripsense" {
		t.Errorf("TRIPSENSE_DATA %q, want the state directory", envs["TRIPSENSE_DATA"])
	}
	if _, err := parseServeConfig(nil, env2(envs), io.Discard); err != nil {
		t.Errorf("the unit's environment is refused: %v", err)
	}
}

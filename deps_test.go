package tripsense_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRule enforces the layering of docs/architecture.md: the
// domain imports only the standard library; use cases and the HTTP API see
// ports, never a concrete store, a WebSocket library or an AWS SDK; stores
// never see use cases. Only cmd/* wires concrete pieces together.
func TestDependencyRule(t *testing.T) {
	t.Parallel()
	const mod = "github.com/tripsense/tripsense"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		if std != "true" && path != mod {
			t.Errorf("root package depends on non-standard %s", path)
		}
	}

	forbidden := map[string][]string{
		"./ws":        {mod + "/store", mod + "/api", mod + "/cmd", "github.com/coder/websocket", "github.com/gobwas/ws", "github.com/aws/", "go.etcd.io/bbolt", "github.com/go-chi"},
		"./sync":      {mod + "/store", mod + "/ws", mod + "/api", mod + "/cmd", "github.com/aws/", "go.etcd.io/bbolt", "github.com/coder/websocket"},
		"./api":       {mod + "/store", mod + "/ws/local", mod + "/ws/apigw", mod + "/cmd", "github.com/aws/", "go.etcd.io/bbolt", "github.com/coder/websocket"},
		"./auth":      {mod + "/store", mod + "/ws", mod + "/api", mod + "/sync", mod + "/cmd", "github.com/aws/"},
		"./ws/local":  {mod + "/store", mod + "/api", mod + "/cmd", "github.com/aws/", "go.etcd.io/bbolt", "github.com/coder/websocket"},
		"./ws/apigw":  {mod + "/store", mod + "/api", mod + "/ws/local", mod + "/cmd", "go.etcd.io/bbolt", "github.com/gobwas/ws"},
		"./store/...": {mod + "/ws", mod + "/api", mod + "/sync", mod + "/cmd", mod + "/auth", mod + "/metrics", "github.com/coder/websocket", "github.com/go-chi"},
		// Instrumentation decorates the ports from outside: it sees the
		// root, ws and sync, never a concrete store, runtime or the API.
		"./metrics": {mod + "/store", mod + "/api", mod + "/cmd", mod + "/ws/local", mod + "/ws/apigw", "github.com/aws/", "go.etcd.io/bbolt", "github.com/coder/websocket", "github.com/gobwas/ws", "github.com/go-chi"},
	}
	// The core never sees Prometheus (only package metrics and cmd do).
	for _, p := range []string{"./ws", "./sync", "./api", "./auth", "./ws/local", "./ws/apigw"} {
		forbidden[p] = append(forbidden[p], mod+"/metrics", "github.com/prometheus/")
	}
	for pattern, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pattern).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pattern, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b)) {
					t.Errorf("%s depends on %s (forbidden: %s)", pattern, dep, b)
				}
			}
		}
	}
}

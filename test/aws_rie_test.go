package test

// The real lambda-ws bootstrap (built like scripts/lambda.sh builds it, for
// this machine's architecture) answers API Gateway events under the AWS
// Lambda Runtime Interface Emulator, bound to 127.0.0.1, with store/dynamo
// on dynalite and a recording @connections endpoint.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/test/gateway"
)

// rieModule is the emulator the test runs (docs/deploy.md).
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// findRIE returns aws-lambda-rie from PATH or GOPATH/bin, installing the
// pinned version with `go install` if it is in neither (bounded). It fails,
// never skips, when that is impossible.
func findRIE(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	gobin := filepath.Join(strings.Split(strings.TrimSpace(string(out)), string(os.PathListSeparator))[0], "bin")
	if b, _ := exec.Command("go", "env", "GOBIN").Output(); strings.TrimSpace(string(b)) != "" {
		gobin = strings.TrimSpace(string(b))
	}
	p := filepath.Join(gobin, "aws-lambda-rie")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "install", rieModule).CombinedOutput(); err != nil {
		t.Fatalf("aws-lambda-rie is not installed and `go install %s` failed: %v\n%s", rieModule, err, out)
	}
	return p
}

// buildBootstrap builds cmd/lambda-ws as a Linux bootstrap for this machine.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	root, err := gateway.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/lambda-ws")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, b)
	}
	return out
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// connections is a recording @connections endpoint.
type connections struct {
	mu    sync.Mutex
	posts map[string][]string
}

func (c *connections) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/dev/@connections/")
	if !ok || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.posts[id] = append(c.posts[id], string(b))
	c.mu.Unlock()
}

func TestAWSBootstrapUnderRIE(t *testing.T) {
	t.Parallel()
	rie := findRIE(t)
	bin := buildBootstrap(t)
	dynamoEndpoint, prefix, _, presence := mustAWSTables(t)
	mgmt := &connections{posts: map[string][]string{}}
	mgmtSrv := httptest.NewServer(mgmt)
	defer mgmtSrv.Close()
	// The token secret comes from SSM, as deployed: the environment holds
	// only the parameter's name.
	ssmSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name           string
			WithDecryption bool
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" || in.Name != "/tripsense/dev/token-secret" || !in.WithDecryption {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ValidationException","message":"want GetParameter of /tripsense/dev/token-secret with decryption"}`))
			return
		}
		out, _ := json.Marshal(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "SecureString", "Value": awsSecret}})
		_, _ = w.Write(out)
	}))
	defer ssmSrv.Close()

	addrs := freePorts(t, 2)
	logs := &awsLogBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rie,
		"--runtime-interface-emulator-address", addrs[0],
		"--runtime-api-address", addrs[1],
		bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDTEST",
		"AWS_SECRET_ACCESS_KEY=test-secret",
		"AWS_EC2_METADATA_DISABLED=true",
		"TRIPSENSE_TABLE_PREFIX=" + prefix,
		"TRIPSENSE_DYNAMODB_ENDPOINT=" + dynamoEndpoint,
		"TRIPSENSE_TOKEN_SECRET_PARAM=/tripsense/dev/token-secret",
		"TRIPSENSE_SSM_ENDPOINT=" + ssmSrv.URL,
		"TRIPSENSE_WS_ENDPOINT=" + mgmtSrv.URL + "/dev",
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	// Its own process group, so that the emulator and the bootstrap it
	// runs are stopped together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("emulator and bootstrap output:\n%s", logs.String())
		}
	}()

	url := "http://" + addrs[0] + "/2015-03-31/functions/function/invocations"
	invoke := func(ev events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
		t.Helper()
		body, _ := json.Marshal(ev)
		// The emulator opens its port a moment after it starts: retry a
		// refused connection until the deadline, nothing else.
		for {
			resp, err := http.Post(url, "application/json", bytes.NewReader(body))
			if err == nil {
				defer resp.Body.Close()
				var out events.APIGatewayProxyResponse
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
					t.Fatalf("invoke %s: %d %s", ev.RequestContext.RouteKey, resp.StatusCode, b)
				}
				return out
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("invoke: %v", err)
			}
			select {
			case <-exited:
				t.Fatalf("emulator exited:\n%s", logs.String())
			case <-ctx.Done():
				t.Fatalf("emulator not listening: %v", ctx.Err())
			case <-time.After(10 * time.Millisecond): // bounded by ctx
			}
		}
	}
	event := func(route, conn string) events.APIGatewayWebsocketProxyRequest {
		now := time.Now()
		typ := map[string]string{"$connect": "CONNECT", "$disconnect": "DISCONNECT"}[route]
		if typ == "" {
			typ = "MESSAGE"
		}
		return events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: route, EventType: typ, ConnectionID: conn, Stage: "dev", DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
			RequestID: "rie-" + route + "-" + conn, ConnectedAt: now.UnixMilli(), RequestTimeEpoch: now.UnixMilli(), APIID: "abc123",
		}}
	}

	tk, err := auth.NewToken(awsSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tk.Mint("uuid1", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	connect := event("$connect", "Rie1connQAbc=")
	connect.QueryStringParameters = map[string]string{"token": tok}
	if resp := invoke(connect); resp.StatusCode != 200 {
		t.Fatalf("$connect: %d %s", resp.StatusCode, resp.Body)
	}
	if c, err := presence.Get(ctx, "Rie1connQAbc="); err != nil || c.UserID != "uuid1" {
		t.Fatalf("registered %+v, %v", c, err)
	}
	refused := event("$connect", "Rie2connQAbc=")
	refused.QueryStringParameters = map[string]string{"userId": "uuid2"}
	if resp := invoke(refused); resp.StatusCode != 401 {
		t.Fatalf("dev identity in token mode: %d %s", resp.StatusCode, resp.Body)
	}
	ping := event("ping", "Rie1connQAbc=")
	ping.Body = `{"action":"ping"}`
	if resp := invoke(ping); resp.StatusCode != 200 {
		t.Fatalf("ping: %d %s", resp.StatusCode, resp.Body)
	}
	mgmt.mu.Lock()
	posts := mgmt.posts["Rie1connQAbc="]
	mgmt.mu.Unlock()
	if len(posts) != 1 || posts[0] != `{"type":"pong"}` {
		t.Fatalf("posts to the connection: %q", posts)
	}
	if resp := invoke(event("$disconnect", "Rie1connQAbc=")); resp.StatusCode != 200 {
		t.Fatalf("$disconnect: %d", resp.StatusCode)
	}
	if _, err := presence.Get(ctx, "Rie1connQAbc="); tripsense.ErrorCode(err) != tripsense.ENOTFOUND {
		t.Fatalf("still registered after $disconnect: %v", err)
	}

	// Report the cold start as the function logged it.
	m := regexp.MustCompile(`"msg":"ready".*?"init_ms":([0-9.]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no ready log line from the bootstrap:\n%s", logs.String())
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("lambda-ws bootstrap under aws-lambda-rie: main() to handler ready (config, SDK clients, wiring) %.1f ms", ms)
	if r := regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`).FindStringSubmatch(logs.String()); r != nil {
		t.Logf("emulator INIT REPORT (process start to first /next): %s ms", r[1])
	}
	if !strings.Contains(logs.String(), `"msg":"connected"`) {
		t.Fatalf("no JSON log of the $connect:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"token_secret":"ssm:/tripsense/dev/token-secret"`) || strings.Contains(logs.String(), awsSecret) {
		t.Fatalf("the ready record does not say the secret came from SSM, or a log shows it:\n%s", logs.String())
	}
}

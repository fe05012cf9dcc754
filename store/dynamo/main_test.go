package dynamo_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/tripsense/tripsense/store/dynamo"
)

// endpointEnv names an already running DynamoDB-compatible endpoint to test
// against instead of starting dynalite.
const endpointEnv = "TRIPSENSE_TEST_DYNAMO_ENDPOINT"

// testEndpoint is the base URL of the DynamoDB endpoint the tests use.
var testEndpoint string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if ep := os.Getenv(endpointEnv); ep != "" {
		testEndpoint = ep
		return m.Run()
	}
	stop, endpoint, err := startDynalite()
	if err != nil {
		fmt.Fprintf(os.Stderr, "store/dynamo: cannot start dynalite: %v\n"+
			"The DynamoDB store tests need the pinned npm tools: run `npm ci` (or `make tools`) at the repository root,\n"+
			"or set %s to a DynamoDB-compatible endpoint.\n", err, endpointEnv)
		return 1
	}
	defer stop()
	testEndpoint = endpoint
	return m.Run()
}

// startDynalite runs node_modules/.bin/dynalite of the repository on a free
// loopback port and waits for its "listening" line.
func startDynalite() (stop func(), endpoint string, err error) {
	root, err := repoRoot()
	if err != nil {
		return nil, "", err
	}
	bin := filepath.Join(root, "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(bin); err != nil {
		return nil, "", fmt.Errorf("%s not found: %w", bin, err)
	}
	var lastErr error
	for range 3 { // the free port can be taken between probe and bind
		stop, endpoint, err := tryDynalite(bin)
		if err == nil {
			return stop, endpoint, nil
		}
		lastErr = err
	}
	return nil, "", lastErr
}

func tryDynalite(bin string) (func(), string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, "", err
	}
	stop := func() {
		cancel()
		_ = cmd.Wait()
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				ready <- nil
				for sc.Scan() { // keep draining so dynalite never blocks on stdout
				}
				return
			}
		}
		ready <- errors.New("dynalite exited before listening")
	}()
	select {
	case err := <-ready:
		if err != nil {
			stop()
			return nil, "", err
		}
	case <-time.After(30 * time.Second):
		stop()
		return nil, "", errors.New("dynalite did not start within 30s")
	}
	return stop, fmt.Sprintf("http://127.0.0.1:%d", port), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot walks up from the package directory to the directory of go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// newClient returns a DynamoDB client for the test endpoint with static
// credentials; apiOptions are added to every call's middleware stack.
func newClient(apiOptions ...func(*middleware.Stack) error) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(testEndpoint),
		APIOptions:   apiOptions,
	})
}

// sharedClient is the client for table setup and most tests.
var sharedClient = sync.OnceValue(func() *dynamodb.Client { return newClient() })

var prefixSeq atomic.Int64

// mustTables creates a fresh set of tables under a prefix unique to this
// test process and test, and returns their names.
func mustTables(tb testing.TB) dynamo.Tables {
	tb.Helper()
	prefix := fmt.Sprintf("t%d-%d-", os.Getpid(), prefixSeq.Add(1))
	tables := dynamo.TablesWithPrefix(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dynamo.CreateTables(ctx, sharedClient(), tables); err != nil {
		tb.Fatalf("CreateTables(%s): %v", prefix, err)
	}
	return tables
}

// testCtx returns a context bounded by the test's deadline (or a minute).
func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

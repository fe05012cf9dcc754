package apigw_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws/apigw"
)

// fakeAPI is a ManagementAPI that records posts and deletions and answers
// with scripted errors.
type fakeAPI struct {
	endpoint string

	mu       sync.Mutex
	posts    map[string][]string
	calls    int
	deleted  []string
	gone     map[string]bool
	limited  int  // answer this many posts with LimitExceededException
	block    bool // block every post until its context ends
	retryMax []int
}

func newFakeAPI(endpoint string) *fakeAPI {
	return &fakeAPI{endpoint: endpoint, posts: map[string][]string{}, gone: map[string]bool{}}
}

func (f *fakeAPI) PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	var o apigatewaymanagementapi.Options
	for _, fn := range optFns {
		fn(&o)
	}
	f.mu.Lock()
	f.calls++
	f.retryMax = append(f.retryMax, o.RetryMaxAttempts)
	block, id := f.block, aws.ToString(in.ConnectionId)
	switch {
	case f.gone[id]:
		f.mu.Unlock()
		return nil, &types.GoneException{Message: aws.String("gone")}
	case f.limited > 0:
		f.limited--
		f.mu.Unlock()
		return nil, &types.LimitExceededException{Message: aws.String("slow down")}
	}
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	f.posts[id] = append(f.posts[id], string(in.Data))
	f.mu.Unlock()
	return &apigatewaymanagementapi.PostToConnectionOutput{}, nil
}

func (f *fakeAPI) DeleteConnection(_ context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, _ ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.ConnectionId)
	if f.gone[id] {
		return nil, &types.GoneException{}
	}
	f.deleted = append(f.deleted, id)
	f.gone[id] = true
	return &apigatewaymanagementapi.DeleteConnectionOutput{}, nil
}

// deliveries is a Presence that records Delivered calls; every other
// method is unused by the Pusher.
type deliveries struct {
	tripsense.Presence
	mu  sync.Mutex
	got []string
	err error
}

func (d *deliveries) Delivered(_ context.Context, conn, room string, index int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, fmt.Sprintf("%s/%s/%d", conn, room, index))
	return d.err
}

func (d *deliveries) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}

type pusherFixture struct {
	pusher *apigw.Pusher
	pres   *deliveries
	mu     sync.Mutex
	apis   map[string]*fakeAPI
	built  int
}

func newPusherFixture(endpoint string) *pusherFixture {
	f := &pusherFixture{pres: &deliveries{}, apis: map[string]*fakeAPI{}}
	f.pusher = &apigw.Pusher{
		Clients: &apigw.Clients{New: func(ep string) apigw.ManagementAPI {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.built++
			if f.apis[ep] == nil {
				f.apis[ep] = newFakeAPI(ep)
			}
			return f.apis[ep]
		}},
		Endpoint: endpoint,
		Presence: f.pres,
		Backoff:  time.Millisecond,
	}
	return f
}

func (f *pusherFixture) api(ep string) *fakeAPI {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apis[ep] == nil {
		f.apis[ep] = newFakeAPI(ep)
	}
	return f.apis[ep]
}

const ep = "https://abc123xyz.execute-api.eu-west-1.amazonaws.com/dev"

func msg(room string, index int64) tripsense.Outbound {
	return tripsense.Outbound{Data: []byte(fmt.Sprintf(`{"type":"message","chatroomId":%q,"index":%d}`, room, index)), Room: room, Index: index}
}

func TestPushDeliversAndReports(t *testing.T) {
	t.Parallel()
	f := newPusherFixture(ep)
	ctx := context.Background()
	if err := f.pusher.Push(ctx, "c1", msg("uuidroom2", 7)); err != nil {
		t.Fatal(err)
	}
	if err := f.pusher.Push(ctx, "c1", tripsense.Outbound{Data: []byte(`{"type":"pong"}`)}); err != nil {
		t.Fatal(err)
	}
	api := f.api(ep)
	if got := api.posts["c1"]; len(got) != 2 || got[1] != `{"type":"pong"}` {
		t.Fatalf("posts = %q", got)
	}
	// Only the frame carrying a stored message is a delivery report.
	if got := f.pres.list(); len(got) != 1 || got[0] != "c1/uuidroom2/7" {
		t.Fatalf("deliveries = %q", got)
	}
	for _, n := range api.retryMax {
		if n != 1 {
			t.Fatalf("SDK retries not disabled per call: RetryMaxAttempts=%d", n)
		}
	}
}

func TestPushGone(t *testing.T) {
	t.Parallel()
	f := newPusherFixture(ep)
	f.api(ep).gone["c1"] = true
	err := f.pusher.Push(context.Background(), "c1", msg("r", 1))
	if !errors.Is(err, tripsense.ErrGone) || tripsense.ErrorCode(err) != tripsense.EGONE {
		t.Fatalf("err = %v, want gone", err)
	}
	var ge *types.GoneException
	if !errors.As(err, &ge) {
		t.Fatalf("SDK error lost from the chain: %v", err)
	}
	if got := f.pres.list(); len(got) != 0 {
		t.Fatalf("a failed push was reported delivered: %q", got)
	}
}

func TestPushRetriesThrottling(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		limited   int
		attempts  int
		wantCalls int
		wantCode  string
	}{
		{"recovers", 2, 3, 3, ""},
		{"gives up", 10, 3, 3, tripsense.ERATELIMITED},
		{"single attempt", 1, 1, 1, tripsense.ERATELIMITED},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newPusherFixture(ep)
			f.pusher.MaxAttempts = tc.attempts
			api := f.api(ep)
			api.limited = tc.limited
			err := f.pusher.Push(context.Background(), "c1", msg("r", 1))
			if tripsense.ErrorCode(err) != tc.wantCode {
				t.Fatalf("err = %v, want code %q", err, tc.wantCode)
			}
			if api.calls != tc.wantCalls {
				t.Fatalf("calls = %d, want %d", api.calls, tc.wantCalls)
			}
			wantReports := 0
			if tc.wantCode == "" {
				wantReports = 1
			}
			if got := f.pres.list(); len(got) != wantReports {
				t.Fatalf("deliveries = %q, want %d", got, wantReports)
			}
		})
	}
}

func TestPushTimeout(t *testing.T) {
	t.Parallel()
	f := newPusherFixture(ep)
	f.pusher.Timeout = 20 * time.Millisecond
	f.api(ep).block = true
	err := f.pusher.Push(context.Background(), "c1", msg("r", 1))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || tripsense.ErrorCode(err) == tripsense.EGONE {
		t.Fatalf("err = %v, want a deadline error that is not gone", err)
	}
	if got := f.pres.list(); len(got) != 0 {
		t.Fatalf("timed-out push reported delivered: %q", got)
	}
}

func TestPushDeliveryReportFailureIsNotAPushFailure(t *testing.T) {
	t.Parallel()
	f := newPusherFixture(ep)
	f.pres.err = errors.New("dynamodb down")
	if err := f.pusher.Push(context.Background(), "c1", msg("r", 1)); err != nil {
		t.Fatalf("push failed because the report failed: %v", err)
	}
}

func TestEndpointFromContextAndClientCache(t *testing.T) {
	t.Parallel()
	f := newPusherFixture("") // no fixed endpoint: the event's is used
	if err := f.pusher.Push(context.Background(), "c1", msg("r", 1)); tripsense.ErrorCode(err) != tripsense.EINTERNAL {
		t.Fatalf("push without endpoint: %v", err)
	}
	other := "https://other.execute-api.eu-west-1.amazonaws.com/prod"
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ep
			if i%2 == 1 {
				e = other
			}
			ctx := apigw.WithEndpoint(context.Background(), e)
			if err := f.pusher.Push(ctx, fmt.Sprintf("c%d", i), msg("r", 1)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if f.built != 2 || f.pusher.Clients.Len() != 2 {
		t.Fatalf("built %d clients for 2 endpoints", f.built)
	}
	if n := len(f.api(ep).posts) + len(f.api(other).posts); n != 64 {
		t.Fatalf("posted to %d connections, want 64", n)
	}

	// A fixed endpoint wins over the event's.
	g := newPusherFixture(ep)
	if err := g.pusher.Push(apigw.WithEndpoint(context.Background(), other), "c1", msg("r", 1)); err != nil {
		t.Fatal(err)
	}
	if len(g.api(ep).posts) != 1 || len(g.api(other).posts) != 0 {
		t.Fatal("fixed endpoint not used")
	}
}

func TestEndpointFor(t *testing.T) {
	t.Parallel()
	cases := []struct{ domain, stage, want string }{
		{"abc.execute-api.eu-west-1.amazonaws.com", "dev", "https://abc.execute-api.eu-west-1.amazonaws.com/dev"},
		{"chat.example.com", "", "https://chat.example.com"},
		{"", "dev", ""},
	}
	for _, tc := range cases {
		if got := apigw.EndpointFor(tc.domain, tc.stage); got != tc.want {
			t.Errorf("EndpointFor(%q, %q) = %q, want %q", tc.domain, tc.stage, got, tc.want)
		}
	}
}

func TestCloseDeletesConnection(t *testing.T) {
	t.Parallel()
	f := newPusherFixture(ep)
	ctx := context.Background()
	if err := f.pusher.Close(ctx, "c1", 4000, "replaced"); err != nil {
		t.Fatal(err)
	}
	if got := f.api(ep).deleted; len(got) != 1 || got[0] != "c1" {
		t.Fatalf("deleted = %q", got)
	}
	// API Gateway closes with a code of its own: the real one goes first,
	// as a frame.
	if got := f.api(ep).posts["c1"]; len(got) != 1 || got[0] != `{"type":"closing","code":4000,"reason":"replaced"}` {
		t.Fatalf("posts before the delete = %q, want one closing frame", got)
	}
	if err := f.pusher.Close(ctx, "c1", 4000, "again"); !errors.Is(err, tripsense.ErrGone) {
		t.Fatalf("second close: %v, want gone", err)
	}
}

// TestRealClientErrors runs the real SDK client against an HTTP server that
// answers as API Gateway does, to pin the error mapping to the wire format.
func TestRealClientErrors(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	posts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if !strings.HasPrefix(r.URL.Path, "/dev/@connections/") {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		posts[id]++
		n := posts[id]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case id == "gone":
			w.Header().Set("X-Amzn-ErrorType", "GoneException")
			w.WriteHeader(http.StatusGone)
			_, _ = w.Write([]byte(`{"message":null}`))
		case id == "busy" || (id == "flaky" && n == 1):
			w.Header().Set("X-Amzn-ErrorType", "LimitExceededException")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":"Rate exceeded"}`))
		case id == "big":
			w.Header().Set("X-Amzn-ErrorType", "PayloadTooLargeException")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"message":"Message too long"}`))
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	p := &apigw.Pusher{
		Clients: &apigw.Clients{New: func(e string) apigw.ManagementAPI {
			return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
				BaseEndpoint: aws.String(e), Region: "eu-west-1", Credentials: aws.AnonymousCredentials{},
				HTTPClient: srv.Client(),
			})
		}},
		Endpoint: srv.URL + "/dev",
		Backoff:  time.Millisecond,
	}
	ctx := context.Background()
	cases := map[string]string{"ok": "", "gone": tripsense.EGONE, "busy": tripsense.ERATELIMITED, "flaky": "", "big": tripsense.ETOOLARGE}
	for id, want := range cases {
		if err := p.Push(ctx, id, tripsense.Outbound{Data: []byte(`{}`)}); tripsense.ErrorCode(err) != want {
			t.Errorf("push to %s: %v, want code %q", id, err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if posts["busy"] != apigw.DefaultPushAttempts || posts["flaky"] != 2 || posts["gone"] != 1 {
		t.Fatalf("attempts per connection = %v (SDK retries must be off; ours bounded at %d)", posts, apigw.DefaultPushAttempts)
	}
}

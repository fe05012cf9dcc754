package sqsfanout_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tripsense/tripsense"
	sqsfanout "github.com/tripsense/tripsense/fanout/sqs"
)

// fixtureServer answers SQS's JSON protocol on 127.0.0.1 with the recorded
// responses, in order, and checks every request against the recorded
// request shape (operation header, content type, body).
type fixtureServer struct {
	t     *testing.T
	url   string
	mu    sync.Mutex
	steps []step
}

type step struct{ request, response string } // testdata file names

func newFixtureServer(t *testing.T, steps ...step) *fixtureServer {
	f := &fixtureServer{t: t, steps: steps}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixtureServer) queueURL() string { return f.url + "/123456789012/tripsense-dev-fanout" }

func (f *fixtureServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.steps) == 0 {
		f.t.Errorf("unexpected request %s", r.Header.Get("X-Amz-Target"))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	st := f.steps[0]
	f.steps = f.steps[1:]
	if got := r.Header.Get("X-Amz-Target"); got != "AmazonSQS.SendMessageBatch" {
		f.t.Errorf("X-Amz-Target %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		f.t.Errorf("Content-Type %q", got)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.t.Errorf("unsigned request")
	}
	body, _ := io.ReadAll(r.Body)
	var got, want any
	if err := json.Unmarshal(body, &got); err != nil {
		f.t.Errorf("request body %q: %v", body, err)
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(read(f.t, st.request), "QUEUE_URL", f.queueURL())), &want); err != nil {
		f.t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		f.t.Errorf("request\n got %s\nwant %s", body, read(f.t, st.request))
	}
	// The recorded response, with the digests of this request's bodies
	// (the SDK checks them).
	resp := read(f.t, st.response)
	var in struct {
		Entries []struct{ Id, MessageBody string }
	}
	_ = json.Unmarshal(body, &in)
	for _, e := range in.Entries {
		sum := md5.Sum([]byte(e.MessageBody))
		resp = strings.ReplaceAll(resp, "MD5_"+e.Id, hex.EncodeToString(sum[:]))
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = io.WriteString(w, resp)
}

func (f *fixtureServer) left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.steps)
}

func read(t *testing.T, name string) string {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func client(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

var jobs = []tripsense.FanoutJob{
	{Room: "big", Index: 7, Conns: []string{"c1", "c2"}},
	{Room: "big", Index: 7, Conns: []string{"c3"}},
}

// TestEnqueueRequestShapes: the jobs go out as one SendMessageBatch whose
// entries carry the jobs' JSON; an entry SQS reports as failed (not the
// sender's fault) is sent again alone, and Enqueue returns once both are
// stored. The consumer decodes exactly what was sent.
func TestEnqueueRequestShapes(t *testing.T) {
	t.Parallel()
	f := newFixtureServer(t,
		step{"send_message_batch.request.json", "send_message_batch.partial.json"},
		step{"send_message_batch.retry.request.json", "send_message_batch.ok.json"})
	q := &sqsfanout.Queue{Client: client(f.url), URL: f.queueURL()}
	if err := q.Enqueue(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	if n := f.left(); n != 0 {
		t.Fatalf("%d recorded exchanges not used", n)
	}
	var sent struct {
		Entries []struct{ MessageBody string }
	}
	_ = json.Unmarshal([]byte(read(t, "send_message_batch.request.json")), &sent)
	for i, e := range sent.Entries {
		j, err := tripsense.DecodeFanoutJob([]byte(e.MessageBody))
		if err != nil || !reflect.DeepEqual(j, jobs[i]) {
			t.Fatalf("decode %s: %+v, %v", e.MessageBody, j, err)
		}
	}
}

// TestEnqueueGivesUp: entries that keep failing make Enqueue fail (the
// core then pushes directly), after MaxAttempts sends.
func TestEnqueueGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixtureServer(t,
		step{"send_message_batch.request.json", "send_message_batch.partial.json"})
	q := &sqsfanout.Queue{Client: client(f.url), URL: f.queueURL(), MaxAttempts: 1}
	err := q.Enqueue(context.Background(), jobs)
	if tripsense.ErrorCode(err) != tripsense.EINTERNAL || !strings.Contains(fmt.Sprint(err), "failed") {
		t.Fatalf("err %v", err)
	}
}

// TestEnqueueBatchesOfTen: 23 jobs are three calls of 10, 10 and 3.
func TestEnqueueBatchesOfTen(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sizes []int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Entries []struct{ Id, MessageBody string }
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		sizes = append(sizes, len(in.Entries))
		mu.Unlock()
		var ok []map[string]string
		for _, e := range in.Entries {
			sum := md5.Sum([]byte(e.MessageBody))
			ok = append(ok, map[string]string{"Id": e.Id, "MessageId": "m" + e.Id, "MD5OfMessageBody": hex.EncodeToString(sum[:])})
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_ = json.NewEncoder(w).Encode(map[string]any{"Successful": ok, "Failed": []any{}})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	var many []tripsense.FanoutJob
	for i := range 23 {
		many = append(many, tripsense.FanoutJob{Room: "big", Index: 1, Conns: []string{fmt.Sprint("c", i)}})
	}
	q := &sqsfanout.Queue{Client: client(srv.URL), URL: srv.URL + "/1/q"}
	if err := q.Enqueue(context.Background(), many); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[10 10 3]" {
		t.Fatalf("batches %v", sizes)
	}
}

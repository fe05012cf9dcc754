package gateway

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// SQS stands in for one Amazon SQS queue and the Lambda event source
// mapping that drains it: it answers SendMessageBatch in SQS's JSON
// protocol on 127.0.0.1 (with the MD5 digests the SDK checks), keeps the
// messages, and Drain invokes a consumer with batches of them as
// events.SQSEvent, redelivering the items the consumer reports in
// BatchItemFailures until MaxReceives, then moving them to a dead-letter
// list. No SQS emulator works with the current SDK, so this is the queue
// of the end-to-end tests.
type SQS struct {
	// Endpoint is the SDK client's BaseEndpoint.
	Endpoint string
	// QueueURL is the queue's URL.
	QueueURL string
	// MaxReceives is the redrive policy's maxReceiveCount (3 when 0).
	MaxReceives int

	srv     *httptest.Server
	mu      sync.Mutex
	pending []events.SQSMessage
	dead    []events.SQSMessage
	sent    int
	seq     int
}

// NewSQS starts a queue; it stops with the test.
func NewSQS(tb testing.TB) *SQS {
	q := &SQS{}
	q.srv = httptest.NewUnstartedServer(http.HandlerFunc(q.serve))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	q.srv.Listener = ln
	q.srv.Start()
	tb.Cleanup(q.srv.Close)
	q.Endpoint = q.srv.URL
	q.QueueURL = q.srv.URL + "/123456789012/fanout"
	return q
}

func (q *SQS) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Query-Error", typ+";Sender")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + typ, "message": msg})
	}
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessageBatch" {
		fail(http.StatusBadRequest, "UnsupportedOperation", "only SendMessageBatch: "+r.Header.Get("X-Amz-Target"))
		return
	}
	var in struct {
		QueueUrl string
		Entries  []struct{ Id, MessageBody string }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.QueueUrl != q.QueueURL || len(in.Entries) == 0 || len(in.Entries) > 10 {
		fail(http.StatusBadRequest, "InvalidParameterValue", "bad SendMessageBatch")
		return
	}
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	var out struct {
		Successful []ok
		Failed     []struct{}
	}
	out.Failed = []struct{}{}
	q.mu.Lock()
	for _, e := range in.Entries {
		q.seq++
		id := "msg-" + strconv.Itoa(q.seq)
		sum := md5.Sum([]byte(e.MessageBody))
		q.pending = append(q.pending, events.SQSMessage{
			MessageId: id, Body: e.MessageBody, Md5OfBody: hex.EncodeToString(sum[:]),
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:fanout",
			Attributes: map[string]string{"ApproximateReceiveCount": "0"},
		})
		out.Successful = append(out.Successful, ok{e.Id, id, hex.EncodeToString(sum[:])})
	}
	q.sent += len(in.Entries)
	q.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

// Sent returns how many messages the queue took in all.
func (q *SQS) Sent() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sent
}

// Dead returns the messages that failed MaxReceives times.
func (q *SQS) Dead() []events.SQSMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]events.SQSMessage(nil), q.dead...)
}

// Drain invokes consume with batches of at most batchSize messages until
// the queue is empty, as the event source mapping does, and returns how
// many invocations it made. Items consume reports as failed are delivered
// again; a Lambda error fails the whole batch.
func (q *SQS) Drain(ctx context.Context, batchSize int, consume func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) int {
	maxReceives := q.MaxReceives
	if maxReceives <= 0 {
		maxReceives = 3
	}
	calls := 0
	for {
		q.mu.Lock()
		n := min(batchSize, len(q.pending))
		batch := append([]events.SQSMessage(nil), q.pending[:n]...)
		q.pending = q.pending[n:]
		for i := range batch {
			c, _ := strconv.Atoi(batch[i].Attributes["ApproximateReceiveCount"])
			batch[i].Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(c + 1)}
		}
		q.mu.Unlock()
		if n == 0 {
			return calls
		}
		calls++
		resp, err := consume(ctx, events.SQSEvent{Records: batch})
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		q.mu.Lock()
		for _, m := range batch {
			if err == nil && !failed[m.MessageId] {
				continue
			}
			if c, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"]); c >= maxReceives {
				q.dead = append(q.dead, m)
			} else {
				q.pending = append(q.pending, m)
			}
		}
		q.mu.Unlock()
	}
}

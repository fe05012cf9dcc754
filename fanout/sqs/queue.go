// Package sqsfanout is the AWS implementation of tripsense.FanoutQueue:
// Queue sends fan-out jobs to an SQS queue (SendMessageBatch, 10 jobs a
// call, each job one message whose body is the job's JSON, read back with
// tripsense.DecodeFanoutJob by the consumer, cmd/lambda-fanout through
// ws/apigw.FanoutHandler). It only converts: which rooms are queued and
// how a job is delivered are decided in ws.
package sqsfanout

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tripsense/tripsense"
)

// API is the part of *sqs.Client the Queue uses.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ API = (*sqs.Client)(nil)

// maxBatch is SQS's limit of entries per SendMessageBatch.
const maxBatch = 10

// maxBatchBytes is SQS's limit on the bodies of one batch (256 KiB).
const maxBatchBytes = 256 << 10

// Queue is a tripsense.FanoutQueue over one SQS queue. Safe for concurrent
// use once its fields are set.
type Queue struct {
	Client API
	// URL is the queue's URL (the QueueUrl of every call).
	URL string
	// MaxAttempts bounds the sends of entries SQS reports as failed (3
	// when 0); the SDK's own retries handle whole-call errors.
	MaxAttempts int
}

var _ tripsense.FanoutQueue = (*Queue)(nil)

// Enqueue implements tripsense.FanoutQueue: it returns once SQS stored every
// job, or an error naming how many it could not store.
func (q *Queue) Enqueue(ctx context.Context, jobs []tripsense.FanoutJob) error {
	attempts := q.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	var entries []types.SendMessageBatchRequestEntry
	size := 0
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		err := q.send(ctx, entries, attempts)
		entries, size = entries[:0], 0
		return err
	}
	for i, j := range jobs {
		body, err := json.Marshal(j)
		if err != nil {
			return tripsense.Wrap(tripsense.EINTERNAL, err, "fan-out job")
		}
		if len(body) > maxBatchBytes {
			return tripsense.Errorf(tripsense.EINTERNAL, "fan-out job of %d bytes is over SQS's limit", len(body))
		}
		if len(entries) == maxBatch || size+len(body) > maxBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))})
		size += len(body)
	}
	return flush()
}

func (q *Queue) send(ctx context.Context, entries []types.SendMessageBatchRequestEntry, attempts int) error {
	pending := append([]types.SendMessageBatchRequestEntry(nil), entries...)
	for attempt := 1; ; attempt++ {
		out, err := q.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: pending})
		if err != nil {
			return tripsense.Wrap(tripsense.EINTERNAL, fmt.Errorf("sqs: send message batch: %w", err), "fan-out queue failed")
		}
		if len(out.Failed) == 0 {
			return nil
		}
		failed := map[string]bool{}
		var senderFault error
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = true
			if f.SenderFault {
				senderFault = fmt.Errorf("sqs: entry %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
			}
		}
		if senderFault != nil || attempt >= attempts {
			cause := senderFault
			if cause == nil {
				cause = fmt.Errorf("sqs: %d entries failed %d times", len(out.Failed), attempt)
			}
			return tripsense.Wrap(tripsense.EINTERNAL, cause, "fan-out queue failed")
		}
		next := pending[:0:0]
		for _, e := range pending {
			if failed[aws.ToString(e.Id)] {
				next = append(next, e)
			}
		}
		pending = next
		t := time.NewTimer(time.Duration(rand.N(int64(50*time.Millisecond) << (attempt - 1))))
		select {
		case <-ctx.Done():
			t.Stop()
			return tripsense.Wrap(tripsense.EINTERNAL, ctx.Err(), "fan-out queue failed")
		case <-t.C:
		}
	}
}

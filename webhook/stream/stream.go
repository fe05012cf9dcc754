// Package webhookstream is the AWS adapter of the webhooks: a Lambda
// handler for the DynamoDB stream of the messages table. Every INSERT
// there is a new room-log entry (the store creates each entry with one
// conditional PutItem and never again), so the stream is the outbox,
// written by the same commit as the entry; the handler only converts a
// record to (room, index) and calls webhook.Deliver, the same delivery step
// as the single binary's Dispatcher.
package webhookstream

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense/webhook"
)

// Handler delivers the webhooks of a batch of stream records. Without a
// Sender (no webhook URL configured) it acknowledges every record.
type Handler struct {
	Source webhook.Source
	Online webhook.Online
	Sender *webhook.Sender
	Now    func() time.Time
	Log    *slog.Logger
	// Observer, when set, is told the outcome and duration of every
	// delivery attempt (metrics).
	Observer webhook.Observer

	mu      sync.Mutex
	backlog Backlog
}

// Backlog is what the last batch left: the INSERT records from its failed
// one on (Lambda hands them over again) and the age of the oldest of
// them, by the stream's ApproximateCreationDateTime, when it ended. Both
// are 0 after a batch that was delivered whole. The stream's own backlog
// is the event source mapping's IteratorAge metric.
type Backlog struct {
	Pending int
	Oldest  time.Duration
}

// LastBacklog is the backlog the last Handle left.
func (h *Handler) LastBacklog() Backlog {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.backlog
}

// Handle delivers the INSERT records in order and stops at the first
// failure, reporting it as the batch item failure (ReportBatchItemFailures):
// Lambda then retries from that record, with the records before it done,
// until the event source mapping's maximum record age; after that the
// batch's description goes to the on-failure destination (the dead-letter
// queue). MODIFY and REMOVE records (an edit applied to its target, a
// redaction, retention) are not new entries and send nothing.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var resp events.DynamoDBEventResponse
	if h.Sender == nil {
		return resp, nil // webhooks off: every record is acknowledged
	}
	for i, r := range ev.Records {
		if r.EventName != string(events.DynamoDBOperationTypeInsert) {
			continue
		}
		room, index, err := key(r.Change.Keys)
		if err != nil {
			// Not an entry of the messages table: a wiring mistake, and
			// retrying would not help. Logged and skipped.
			log.Error("webhook stream: record without (room, index)", "id", r.EventID, "err", err)
			continue
		}
		start := time.Now()
		outcome, err := webhook.Deliver(ctx, h.Source, h.Online, h.Sender, room, index, now(), log)
		if h.Observer != nil {
			h.Observer.WebhookAttempt(outcome, time.Since(start))
		}
		if err != nil {
			log.Warn("webhook delivery failed; Lambda retries from this record", "room", room, "index", index, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
			h.setBacklog(ev.Records[i:], now())
			return resp, nil
		}
	}
	h.setBacklog(nil, now())
	return resp, nil
}

// setBacklog records the INSERT records left for a retry and the age of
// the oldest of them at now.
func (h *Handler) setBacklog(left []events.DynamoDBEventRecord, now time.Time) {
	var b Backlog
	for _, r := range left {
		if r.EventName != string(events.DynamoDBOperationTypeInsert) {
			continue
		}
		b.Pending++
		if t := r.Change.ApproximateCreationDateTime.Time; !t.IsZero() && now.Sub(t) > b.Oldest {
			b.Oldest = now.Sub(t)
		}
	}
	h.mu.Lock()
	h.backlog = b
	h.mu.Unlock()
}

func key(keys map[string]events.DynamoDBAttributeValue) (string, int64, error) {
	room, ok := keys["room"]
	if !ok || room.DataType() != events.DataTypeString {
		return "", 0, fmt.Errorf("no string key room")
	}
	idx, ok := keys["index"]
	if !ok || idx.DataType() != events.DataTypeNumber {
		return "", 0, fmt.Errorf("no number key index")
	}
	n, err := strconv.ParseInt(idx.Number(), 10, 64)
	if err != nil || n <= 0 {
		return "", 0, fmt.Errorf("index %q", idx.Number())
	}
	return room.String(), n, nil
}

package apigw

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tripsense/tripsense"
)

// FanoutDeliverer delivers one queued fan-out job; *ws.Service implements
// it.
type FanoutDeliverer interface {
	DeliverFanout(ctx context.Context, job tripsense.FanoutJob) error
}

// FanoutHandler is the Lambda handler of the fan-out consumer
// (cmd/lambda-fanout): an SQS event source mapping with
// ReportBatchItemFailures invokes it with a batch of queue messages, each a
// tripsense.FanoutJob. It delivers them one after the other and reports
// every message whose job failed (undecodable, the message unreadable, or a
// push throttled or timed out) in BatchItemFailures, so SQS delivers only
// those again (and, after the redrive policy's maxReceiveCount, moves them
// to the dead-letter queue). Its Service's Pusher needs a fixed Endpoint:
// an SQS event names no WebSocket API.
type FanoutHandler struct {
	Service FanoutDeliverer
	// Log receives one record per failed job. Nil discards.
	Log *slog.Logger
}

// Handle implements the consumer. It never returns a Lambda error: that
// would make SQS deliver the whole batch again.
func (h *FanoutHandler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("aws_request_id", lc.AwsRequestID)
	}
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		job, err := tripsense.DecodeFanoutJob([]byte(rec.Body))
		if err == nil {
			err = h.Service.DeliverFanout(ctx, job)
		}
		if err != nil {
			log.Warn("fan-out job failed", "message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"], "room", job.Room, "index", job.Index, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

package webhookstream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/memory"
	"github.com/tripsense/tripsense/webhook"
	webhookstream "github.com/tripsense/tripsense/webhook/stream"
	"github.com/tripsense/tripsense/webhook/webhooktest"
)

// recordingStore turns every stored append into the INSERT record the
// messages table's stream would carry.
type recordingStore struct {
	*memory.Store
	records []events.DynamoDBEventRecord
}

func (s *recordingStore) Append(ctx context.Context, nm tripsense.NewMessage) (tripsense.Message, bool, error) {
	m, dup, err := s.Store.Append(ctx, nm)
	if err == nil && !dup {
		s.records = append(s.records, events.DynamoDBEventRecord{EventName: "INSERT", EventID: fmt.Sprint(len(s.records)),
			Change: events.DynamoDBStreamRecord{SequenceNumber: fmt.Sprint(100 + len(s.records)), Keys: map[string]events.DynamoDBAttributeValue{
				"room": events.NewStringAttribute(m.Room), "index": events.NewNumberAttribute(fmt.Sprint(m.Index))}}})
		// An event applied to its target also modifies the target's item.
		if nm.Kind == tripsense.KindEdit {
			s.records = append(s.records, events.DynamoDBEventRecord{EventName: "MODIFY", Change: events.DynamoDBStreamRecord{SequenceNumber: "m", Keys: map[string]events.DynamoDBAttributeValue{
				"room": events.NewStringAttribute(m.Room), "index": events.NewNumberAttribute(fmt.Sprint(nm.Target))}}})
		}
	}
	return m, dup, err
}

// TestStreamSuite runs the shared suite on the AWS path: the stream
// records of the appends, handed to the consumer the way Lambda does
// (after a batch item failure, again from the failed record).
func TestStreamSuite(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T, url string) webhooktest.Runtime {
		st := &recordingStore{Store: memory.New()}
		for _, u := range []string{"alice", "bob", "carol"} {
			if err := st.AddMember(context.Background(), "trip", u); err != nil {
				t.Fatal(err)
			}
		}
		snd, err := webhook.NewSender(url, webhooktest.Secret, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := &webhookstream.Handler{Source: st, Online: webhooktest.Online{}, Sender: snd}
		next := 0
		return webhooktest.Runtime{Store: st, Deliver: func(t *testing.T) {
			batch := st.records[next:]
			resp, err := h.Handle(context.Background(), events.DynamoDBEvent{Records: batch})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.BatchItemFailures) == 0 {
				next = len(st.records)
				return
			}
			for i, r := range batch {
				if r.Change.SequenceNumber == resp.BatchItemFailures[0].ItemIdentifier {
					next += i
					return
				}
			}
			t.Fatalf("failure %v names no record of the batch", resp.BatchItemFailures)
		}}
	})
}

func TestRecordsWithoutKeysAreSkipped(t *testing.T) {
	snd, err := webhook.NewSender("http://127.0.0.1:9/", webhooktest.Secret, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &webhookstream.Handler{Sender: snd}
	resp, err := h.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{EventName: "INSERT"}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v %v", resp, err)
	}
}

package api

import (
	"context"
	"net/http"

	"github.com/tripsense/tripsense"
)

// Webhooks shows and replays the webhook outbox (admins). Optional: nil
// (no --webhook-url, or AWS, where the queue and its dead-letter queue
// hold the state) answers 404.
type Webhooks interface {
	// OutboxList returns up to limit events, pending and failed, oldest first.
	OutboxList(ctx context.Context, limit int) ([]tripsense.OutboxEntry, error)
	// Replay makes failed events pending again: seq, or all when 0.
	Replay(ctx context.Context, seq uint64) (int, error)
}

type outboxEntryJSON struct {
	ID        string `json:"id"`
	Seq       uint64 `json:"seq"`
	Room      string `json:"chatroomId"`
	Index     int64  `json:"index"`
	CreatedAt string `json:"createdAt"`
	Attempts  int    `json:"attempts"`
	NextAt    string `json:"nextAt,omitempty"`
	LastError string `json:"lastError,omitempty"`
	Failed    bool   `json:"failed"`
}

// webhookListLimit bounds the events GET /v1/webhooks lists.
const webhookListLimit = 1000

func (s *server) webhooksOff(w http.ResponseWriter, r *http.Request) bool {
	if s.webhooks == nil {
		s.writeError(w, r, tripsense.Errorf(tripsense.ENOTFOUND, "webhooks are not configured here (start with --webhook-url; on AWS see the webhook queue's dead-letter queue)"))
		return true
	}
	return false
}

// getWebhooks serves GET /v1/webhooks (admins): the outbox, at most 1000
// events, with the pending and failed counts among them.
func (s *server) getWebhooks(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	es, err := s.webhooks.OutboxList(r.Context(), webhookListLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Pending int               `json:"pending"`
		Failed  int               `json:"failed"`
		Events  []outboxEntryJSON `json:"events"`
	}{Events: make([]outboxEntryJSON, 0, len(es))}
	for _, e := range es {
		j := outboxEntryJSON{ID: tripsense.EventID(e.Room, e.Index), Seq: e.Seq, Room: e.Room, Index: e.Index,
			CreatedAt: tripsense.FormatTime(e.CreatedAt), Attempts: e.Attempts, LastError: e.LastError, Failed: e.Failed}
		if e.Failed {
			out.Failed++
		} else {
			out.Pending++
			j.NextAt = tripsense.FormatTime(e.NextAt)
		}
		out.Events = append(out.Events, j)
	}
	writeJSON(w, http.StatusOK, out)
}

type replayBody struct {
	Seq uint64 `json:"seq"`
}

// postWebhookReplay serves POST /v1/webhooks/replay {"seq"?} (admins).
func (s *server) postWebhookReplay(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	var body replayBody
	if err := s.decodeJSON(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.webhooks.Replay(r.Context(), body.Seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
}

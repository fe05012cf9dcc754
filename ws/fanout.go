package ws

import (
	"context"
	"fmt"

	"github.com/tripsense/tripsense"
)

// Defaults of the queued fan-out (Service.Fanout).
const (
	// DefaultFanoutThreshold: rooms with more online connections than
	// this hand their fan-out to the queue. At 16 posts in parallel and
	// about 10 ms a post, 500 connections take about 0.3 s inside a send.
	DefaultFanoutThreshold = 500
	// DefaultFanoutBatch is how many connections one job holds: one
	// consumer invocation pushes a batch of jobs, 16 posts at a time.
	DefaultFanoutBatch = 100
)

// enqueue hands the fan-out of m to the queue when the room is large, and
// reports whether it did (or false, to push directly).
func (s *Service) enqueue(ctx context.Context, senderConn string, m *tripsense.Message, members []tripsense.Member) bool {
	if s.Fanout == nil {
		return false
	}
	threshold := s.FanoutThreshold
	if threshold <= 0 {
		threshold = DefaultFanoutThreshold
	}
	if len(members) <= threshold {
		return false
	}
	batch := s.FanoutBatch
	if batch <= 0 {
		batch = DefaultFanoutBatch
	}
	var jobs []tripsense.FanoutJob
	for _, mb := range members {
		if mb.ConnID == senderConn {
			continue
		}
		if len(jobs) == 0 || len(jobs[len(jobs)-1].Conns) == batch {
			jobs = append(jobs, tripsense.FanoutJob{Room: m.Room, Index: m.Index, Conns: make([]string, 0, batch)})
		}
		j := &jobs[len(jobs)-1]
		j.Conns = append(j.Conns, mb.ConnID)
	}
	if err := s.Fanout.Enqueue(ctx, jobs); err != nil {
		// The queue is down: push directly, within this invocation's time,
		// rather than leave the room to catch-up.
		s.log().Error("fan-out queue failed; pushing directly", "room", m.Room, "index", m.Index, "jobs", len(jobs), "err", err)
		return false
	}
	s.log().Debug("fan-out queued", "room", m.Room, "index", m.Index, "connections", len(members), "jobs", len(jobs))
	return true
}

// queueFanout runs the queue path of a fan-out again for a retried send:
// in a large room it queues the jobs again; in a small one it does nothing
// (a retry is not pushed again there, see sendMessage).
func (s *Service) queueFanout(ctx context.Context, senderConn string, m *tripsense.Message) {
	members, err := s.Presence.RoomConnections(ctx, m.Room)
	if err != nil {
		s.log().Error("fan-out lookup", "room", m.Room, "index", m.Index, "err", err)
		return
	}
	s.enqueue(ctx, senderConn, m, members)
}

// DeliverFanout pushes the message of job, read from the store, to the
// job's connections (FanoutParallelism at a time). A connection that is
// gone is disconnected. It returns an error when the
// message cannot be read or some push failed otherwise (throttled, timed
// out): the queue then delivers the job again, and the connections that
// got it the first time get it twice (clients dedupe by index). Pushes
// report deliveries like any fan-out.
func (s *Service) DeliverFanout(ctx context.Context, job tripsense.FanoutJob) error {
	if !tripsense.ValidID(job.Room) || job.Index < 1 {
		return tripsense.Errorf(tripsense.EINVALID, "fan-out job: invalid room or index")
	}
	msgs, err := s.Store.MessagesAfter(ctx, job.Room, job.Index-1, 1)
	if err != nil {
		return fmt.Errorf("fan-out %s/%d: %w", job.Room, job.Index, err)
	}
	if len(msgs) == 0 || msgs[0].Index != job.Index {
		return tripsense.Errorf(tripsense.ENOTFOUND, "fan-out %s/%d: no such message", job.Room, job.Index)
	}
	m := &msgs[0]
	// The job's connections are the room's receivers when the message was
	// sent, as a direct fan-out would have pushed to (re-reading the room
	// for every job would read a large room once per batch).
	members := make([]tripsense.Member, len(job.Conns))
	for i, c := range job.Conns {
		members[i] = tripsense.Member{ConnID: c}
	}
	out := tripsense.Outbound{Data: m.AppendJSON(make([]byte, 0, 160+len(m.Body)), m.FrameType()), Room: m.Room, Index: m.Index}
	if n := s.pushAll(ctx, "", m, out, members); n > 0 {
		return tripsense.Errorf(tripsense.ERATELIMITED, "fan-out %s/%d: %d of %d pushes failed", job.Room, job.Index, n, len(members))
	}
	return nil
}

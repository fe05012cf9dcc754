package ws

import (
	"context"
	"sync"

	"github.com/tripsense/tripsense"
)

// MemoryQueue is the in-process tripsense.FanoutQueue: Enqueue keeps the
// jobs in memory and Drain delivers them at least once, as SQS does: a job
// whose delivery fails is delivered again, up to MaxReceives times in all,
// then moved to Dead (the dead-letter queue). Nothing survives the process,
// so the single binary does not use it: its hub's Broadcast only appends
// to each connection's bounded queue and never blocks a send, so fan-out
// there stays direct. Tests of the core and of the AWS consumer use it.
// Safe for concurrent use.
type MemoryQueue struct {
	// MaxReceives bounds the deliveries of one job (3 when 0), like an
	// SQS redrive policy's maxReceiveCount.
	MaxReceives int
	// Fail, when set, is returned by Enqueue (a queue that is down).
	Fail error

	mu      sync.Mutex
	pending []queued
	dead    []tripsense.FanoutJob
	taken   int
}

type queued struct {
	job      tripsense.FanoutJob
	receives int
}

var _ tripsense.FanoutQueue = (*MemoryQueue)(nil)

// Enqueue implements tripsense.FanoutQueue.
func (q *MemoryQueue) Enqueue(_ context.Context, jobs []tripsense.FanoutJob) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.Fail != nil {
		return q.Fail
	}
	for _, j := range jobs {
		j.Conns = append([]string(nil), j.Conns...)
		q.pending = append(q.pending, queued{job: j})
	}
	q.taken += len(jobs)
	return nil
}

// Len returns how many jobs wait.
func (q *MemoryQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Enqueued returns how many jobs Enqueue took in all.
func (q *MemoryQueue) Enqueued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.taken
}

// Dead returns the jobs that failed MaxReceives times.
func (q *MemoryQueue) Dead() []tripsense.FanoutJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]tripsense.FanoutJob(nil), q.dead...)
}

// Take removes and returns up to n waiting jobs with how often each was
// received before (a consumer that reports failures with Return).
func (q *MemoryQueue) Take(n int) (jobs []tripsense.FanoutJob, receives []int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.pending))
	for _, e := range q.pending[:n] {
		jobs = append(jobs, e.job)
		receives = append(receives, e.receives+1)
	}
	q.pending = q.pending[n:]
	return jobs, receives
}

// Return puts a job whose delivery failed back (receives as Take returned
// it), or moves it to Dead once it was received MaxReceives times.
func (q *MemoryQueue) Return(job tripsense.FanoutJob, receives int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	max := q.MaxReceives
	if max <= 0 {
		max = 3
	}
	if receives >= max {
		q.dead = append(q.dead, job)
		return
	}
	q.pending = append(q.pending, queued{job: job, receives: receives})
}

// Drain delivers every waiting job with deliver, redelivering failed ones,
// until none waits (each job at most MaxReceives times, so it ends). It
// returns how many deliveries succeeded.
func (q *MemoryQueue) Drain(ctx context.Context, deliver func(context.Context, tripsense.FanoutJob) error) int {
	ok := 0
	for {
		jobs, receives := q.Take(10)
		if len(jobs) == 0 {
			return ok
		}
		for i, j := range jobs {
			if err := deliver(ctx, j); err != nil {
				q.Return(j, receives[i])
				continue
			}
			ok++
		}
	}
}

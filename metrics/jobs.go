package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/webhook"
)

// webhookOutcomes are the result label's values of webhook_deliveries_total.
var webhookOutcomes = []string{webhook.Delivered, webhook.Failed, webhook.Expired, webhook.Gone}

// WebhookAttempt implements webhook.Observer: one delivery attempt ended
// with outcome after d.
func (m *Metrics) WebhookAttempt(outcome string, d time.Duration) {
	m.webhooks.WithLabelValues(known(webhookOutcomes, outcome)).Inc()
	m.webhookSeconds.Observe(seconds(d))
}

var _ webhook.Observer = (*Metrics)(nil)

// WebhookBacklog registers the backlog gauges, read from read at every
// scrape (or EMF flush): tripsense_webhook_backlog{state="pending"} and,
// when failed is not negative, {state="failed"}, and
// tripsense_webhook_oldest_pending_seconds. read returns ok false when it
// could not tell (the store did not answer): the gauges are left out of
// that scrape rather than reporting an empty outbox. Call it once.
func (m *Metrics) WebhookBacklog(read func() (pending, failed int, oldest time.Duration, ok bool)) {
	m.Registry.MustRegister(&backlogCollector{read: read})
}

var (
	backlogDesc = prometheus.NewDesc(Namespace+"_webhook_backlog",
		"Webhook events not delivered yet, by state: pending (waiting for their next attempt) or failed (the single binary: waiting for tripsense webhooks replay). On AWS: the records the last stream batch left for Lambda's retry.",
		[]string{"state"}, nil)
	oldestDesc = prometheus.NewDesc(Namespace+"_webhook_oldest_pending_seconds",
		"Age of the oldest pending webhook event (0 when none is pending).", nil, nil)
)

type backlogCollector struct {
	read func() (pending, failed int, oldest time.Duration, ok bool)
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- oldestDesc
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	pending, failed, oldest, ok := c.read()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(pending), "pending")
	if failed >= 0 {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(failed), "failed")
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, seconds(oldest))
}

// FanoutDeliverer is the consumer of queued fan-out jobs
// (apigw.FanoutDeliverer, which *ws.Service implements).
type FanoutDeliverer interface {
	DeliverFanout(ctx context.Context, job tripsense.FanoutJob) error
}

// Fanout returns d with its jobs counted by result and timed
// (fanout_jobs_total, fanout_job_seconds). The deliveries themselves are
// the message frames the Pusher decorator counts.
func (m *Metrics) Fanout(d FanoutDeliverer) FanoutDeliverer { return &fanout{d: d, m: m} }

type fanout struct {
	d FanoutDeliverer
	m *Metrics
}

func (f *fanout) DeliverFanout(ctx context.Context, job tripsense.FanoutJob) error {
	start := time.Now()
	err := f.d.DeliverFanout(ctx, job)
	f.m.fanoutJobSecs.Observe(seconds(time.Since(start)))
	if err != nil {
		f.m.fanoutJobs.WithLabelValues("failed").Inc()
		return err
	}
	f.m.fanoutJobs.WithLabelValues("delivered").Inc()
	return nil
}

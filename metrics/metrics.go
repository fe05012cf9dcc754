// Package metrics is Tripsense's instrumentation: Prometheus collectors
// (github.com/prometheus/client_golang) fed by thin decorators around the
// core's ports, so the core packages never import Prometheus. cmd/tripsense
// serves them on /metrics; the Lambdas write the same names as CloudWatch
// embedded metric format records into their logs (EMF, emf.go).
//
// The decorators only count and time what passes through them:
//
//   - Store wraps a tripsense.Store: sends (Append) by result and their
//     durable-commit latency, store errors by operation;
//   - Pusher wraps a tripsense.Pusher (keeping ws.Broadcaster when the inner
//     one has it): frames out by type, fan-out latency;
//   - Limiter wraps a ws.Limiter: rate-limit refusals by budget;
//   - Catchup wraps the HTTP catch-up (api.SyncService): answer sizes and
//     durations;
//   - Observer is the ws.Observer: frames in by action;
//   - HTTP wraps an http.Handler: requests by route and status, durations,
//     and (for GET /ws, through ObserveHTTP) upgrades and refusals by status;
//   - Fanout wraps the consumer of queued fan-out jobs (AWS): jobs by
//     result and their duration;
//   - the Metrics is also the webhook.Observer (delivery attempts by
//     outcome and their latency), and WebhookBacklog registers the
//     outbox's backlog gauges.
//
// Gauges that a component already knows (open connections, queued frames,
// slow-consumer closes) are read at scrape time through the Stats
// functions cmd/tripsense registers (GaugeFunc), costing nothing between
// scrapes. docs/operations.md lists every metric.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "tripsense"

// latencyBuckets are for store commits, pushes and fan-out: 50µs to 10s.
var latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// requestBuckets are for HTTP requests and catch-up answers: 1ms to 60s.
var requestBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// sizeBuckets are for catch-up answers: 256 B to 4 MiB (answers are
// bounded to about 1 MiB of message JSON).
var sizeBuckets = prometheus.ExponentialBuckets(256, 4, 8)

// Build describes the running build for tripsense_build_info.
type Build struct {
	Version, Revision, GoVersion string
}

// Metrics holds the collectors and the registry they are in.
type Metrics struct {
	Registry *prometheus.Registry

	framesIn          *prometheus.CounterVec   // action
	framesOut         *prometheus.CounterVec   // type
	sends             *prometheus.CounterVec   // result
	appendSeconds     prometheus.Histogram     // durable commit latency
	sendAnswerSeconds prometheus.Histogram     // a pipelined send, frame read to answer queued (ws.SendObserver)
	commitSeconds     prometheus.Histogram     // one commit of the single binary's store
	checkpointSeconds prometheus.Histogram     // one checkpoint of its write-ahead log
	storeErrors       *prometheus.CounterVec   // op
	fanoutSeconds     prometheus.Histogram     // handing a message to the room's connections
	pushSeconds       prometheus.Histogram     // one push (network pushers)
	rateLimited       *prometheus.CounterVec   // budget
	catchupBytes      *prometheus.HistogramVec // kind
	catchupSeconds    *prometheus.HistogramVec // kind
	httpRequests      *prometheus.CounterVec   // route, code
	httpSeconds       *prometheus.HistogramVec // route
	upgrades          *prometheus.CounterVec   // result: upgraded, or the refusal's status
	pushes            *prometheus.CounterVec   // result: ok, gone, error
	fanoutJobs        *prometheus.CounterVec   // result: delivered, failed (AWS queued fan-out)
	fanoutJobSecs     prometheus.Histogram     // one queued fan-out job
	webhooks          *prometheus.CounterVec   // result: delivered, failed, expired, gone
	webhookSeconds    prometheus.Histogram     // one delivery attempt

	// The children of the vectors every frame counts, looked up once.
	framesInBy, framesOutBy                 map[string]prometheus.Counter
	sendsStored, sendsDuplicate, sendsError prometheus.Counter
}

// New returns the collectors registered in a new registry, with Go's
// runtime and process collectors and tripsense_build_info.
func New(b Build) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r}
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels say which build runs."}, []string{"version", "revision", "goversion"})
	bi.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	f(bi)
	m.framesIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "frames_in_total",
		Help: "WebSocket frames received, by action (unknown actions and undecodable frames are \"other\"; rate-limited frames are counted in rate_limited_total only)."}, []string{"action"})
	m.framesOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "frames_out_total",
		Help: "WebSocket frames handed to connections, by type (a fanned-out message counts once per recipient)."}, []string{"type"})
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "sends_total",
		Help: "Messages given to the store (sendMessage after its checks), by result: stored, duplicate (a clientMsgId retry) or error."}, []string{"result"})
	m.appendSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "append_seconds",
		Help: "Durable-commit latency of a send: Store.Append until the commit synced.", Buckets: latencyBuckets})
	m.sendAnswerSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "send_answer_seconds",
		Help: "A send's time in the single binary: from its sendMessage frame read to its answer (ack or error) queued for the connection, after its durable commit and its hand-out to the room's online members; the socket writes follow.", Buckets: latencyBuckets})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "store_commit_seconds",
		Help: "Duration of one commit of the single binary's store, from its first write to the end of its last fdatasync: the write-ahead log's one, or bbolt's second (many writes share one; see store_commits_total).", Buckets: latencyBuckets})
	m.checkpointSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "store_checkpoint_seconds",
		Help: "Duration of one checkpoint of the single binary's write-ahead log: bbolt's commit of the appends the log acked (its page writes and two fdatasyncs). Writes queued meanwhile wait for it.", Buckets: latencyBuckets})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "store_errors_total",
		Help: "Store calls that failed (context cancellations excluded), by operation."}, []string{"op"})
	m.fanoutSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "fanout_seconds",
		Help: "Time to hand one message to every online connection of its room (queued for each connection's writer).", Buckets: latencyBuckets})
	m.pushSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "push_seconds",
		Help: "Time of one push to one connection (answers, and fan-out where it is per connection: AWS).", Buckets: latencyBuckets})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rate_limited_total",
		Help: "Refusals of the rate limits, by budget: send, control (WebSocket frames), http (requests per client IP) or connect (WebSocket upgrades per client IP)."}, []string{"budget"})
	m.catchupBytes = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "catchup_bytes",
		Help: "Size of catch-up answers before compression, by kind: sync (GET /v1/sync) or history (GET /v1/rooms/{room}/messages).", Buckets: sizeBuckets}, []string{"kind"})
	m.catchupSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "catchup_seconds",
		Help: "Duration of catch-up answers, by kind, until the last byte was handed to the connection.", Buckets: requestBuckets}, []string{"kind"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	m.httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "http_request_seconds",
		Help: "HTTP request duration by route (WebSocket upgrades until the upgrade).", Buckets: requestBuckets}, []string{"route"})
	m.upgrades = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "ws_upgrades_total",
		Help: "WebSocket upgrade requests by result: upgraded, or the status they were refused with (400, 401, 403, 409, 429, ...)."}, []string{"result"})
	m.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "pushes_total",
		Help: "Pushes to one connection by result: ok, gone (the connection no longer exists) or error (throttled, timed out, failed)."}, []string{"result"})
	m.fanoutJobs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "fanout_jobs_total",
		Help: "Queued fan-out jobs (AWS, rooms above the threshold) by result: delivered, or failed (SQS delivers the job again)."}, []string{"result"})
	m.fanoutJobSecs = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "fanout_job_seconds",
		Help: "Duration of one queued fan-out job: reading its message and pushing it to the job's connections.", Buckets: latencyBuckets})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: delivered (2xx), failed (retried), expired (the last attempt failed; the event waits for a replay) or gone (the entry is no longer stored)."}, []string{"result"})
	m.webhookSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "webhook_attempt_seconds",
		Help: "Duration of one webhook delivery attempt: building the event and posting it.", Buckets: requestBuckets})
	for _, c := range []prometheus.Collector{m.framesIn, m.framesOut, m.sends, m.appendSeconds, m.sendAnswerSeconds, m.commitSeconds, m.checkpointSeconds, m.storeErrors, m.fanoutSeconds,
		m.pushSeconds, m.rateLimited, m.catchupBytes, m.catchupSeconds, m.httpRequests, m.httpSeconds, m.upgrades,
		m.pushes, m.fanoutJobs, m.fanoutJobSecs, m.webhooks, m.webhookSeconds} {
		f(c)
	}
	// Pre-create the common series, so that dashboards and rate() see
	// zeros before the first event.
	m.framesInBy, m.framesOutBy = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, a := range actions {
		m.framesInBy[a] = m.framesIn.WithLabelValues(a)
	}
	for _, t := range frameTypes {
		m.framesOutBy[t] = m.framesOut.WithLabelValues(t)
	}
	m.sendsStored, m.sendsDuplicate, m.sendsError = m.sends.WithLabelValues("stored"),
		m.sends.WithLabelValues("duplicate"), m.sends.WithLabelValues("error")
	for _, b := range []string{"send", "control", "http", "connect"} {
		m.rateLimited.WithLabelValues(b)
	}
	for _, r := range []string{"ok", "gone", "error"} {
		m.pushes.WithLabelValues(r)
	}
	for _, r := range []string{"delivered", "failed"} {
		m.fanoutJobs.WithLabelValues(r)
	}
	for _, r := range webhookOutcomes {
		m.webhooks.WithLabelValues(r)
	}
	return m
}

// Gauge registers a gauge read from fn at every scrape.
func (m *Metrics) Gauge(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, fn))
}

// Counter registers a counter read from fn at every scrape (fn must never
// decrease).
func (m *Metrics) Counter(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, fn))
}

// Handler serves the registry in the Prometheus text format (and
// OpenMetrics when asked), gzipped when the client accepts it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, Timeout: 10 * time.Second})
}

// Register adds collectors of other components to the registry (a
// component with metrics of its own; the webhook metrics are built in:
// WebhookAttempt and WebhookBacklog).
func (m *Metrics) Register(cs ...prometheus.Collector) {
	m.Registry.MustRegister(cs...)
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// GaugeWith registers a gauge with constant labels, read from fn at every
// scrape; several may share a name with different label values.
func (m *Metrics) GaugeWith(name, help string, labels map[string]string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help, ConstLabels: labels}, fn))
}

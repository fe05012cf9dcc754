package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzip"

	"github.com/tripsense/tripsense/cmd/internal/buildinfo"
	"github.com/tripsense/tripsense/metrics"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/webhook"
)

// newMetrics builds the collectors and the gauges read at scrape time.
func (m *Main) newMetrics() *metrics.Metrics {
	b := buildinfo.Get()
	mt := metrics.New(metrics.Build{Version: b.Version, Revision: b.Revision, GoVersion: b.GoVersion})
	hub, ln, st := m.hub, m.ln, m.store
	mt.GaugeWith("connections", "Open connections by state: websocket (upgraded and online), tcp (every accepted connection, HTTP keep-alive and WebSocket).",
		map[string]string{"state": "websocket"}, func() float64 { return float64(hub.Len()) })
	mt.GaugeWith("connections", "Open connections by state: websocket (upgraded and online), tcp (every accepted connection, HTTP keep-alive and WebSocket).",
		map[string]string{"state": "tcp"}, func() float64 { return float64(ln.Open()) })
	mt.Gauge("ws_queued_frames", "Frames waiting in all connections' outgoing queues.", func() float64 { return float64(hub.Stats().Queued) })
	mt.Gauge("ws_queue_max_frames", "The longest outgoing queue of a connection (closed as a slow consumer at --queue-limit).", func() float64 { return float64(hub.Stats().MaxQueued) })
	mt.Counter("slow_consumer_closes_total", "Connections closed (4001) because their outgoing queue was full.", func() float64 { return float64(hub.Stats().SlowConsumerCloses) })
	mt.Counter("connections_refused_total", "Connections the listener refused over --max-connections or --max-connections-per-ip (a fixed 429).", func() float64 { return float64(ln.Refused()) })
	mt.Gauge("store_file_bytes", "Size of the store file.", func() float64 {
		n, _ := st.Size()
		return float64(n)
	})
	mt.Counter("store_commits_total", "Durable commits of the store (each one fdatasync of the write-ahead log, or a pair of bbolt's; many writes share one).", func() float64 { return float64(st.Stats().Commits) })
	mt.Counter("store_commit_writes_total", "Writes (appends, cursor and membership updates) carried by those commits: divided by store_commits_total, the mean group-commit size.", func() float64 { return float64(st.Stats().Writes) })
	mt.Counter("store_page_writes_total", "Pages bbolt wrote, in commits and in the write-ahead log's checkpoints (one pwrite each: every B+tree page a commit changed, its branch pages up to the root, the freelist and the meta page).", func() float64 { return float64(st.Stats().PageWrites) })
	mt.Counter("store_checkpoints_total", "Checkpoints of the write-ahead log: bbolt's commits of the appends the log acked (in the background after 1,024 appends or 50 ms; in the committer when the log is full, before any other write or a read of messages or the outbox while appends are pending, and at close).", func() float64 { return float64(st.Stats().Checkpoints) })
	mt.Counter("store_checkpoint_waits_total", "Times the store's committer waited for a checkpoint committing in the background (for a write that is neither an append nor a webhook outcome, a read of messages or the outbox, a full log, or close): appends queued meanwhile waited too.", func() float64 { return float64(st.Stats().CheckpointWaits) })
	mt.Gauge("store_queued_writes", "Writes waiting for the store's committer (at most 16,384): near the bound, the store is saturated.", func() float64 { return float64(st.Stats().Queued) })
	mt.Gauge("store_queued_bytes", "Bytes of the messages waiting for the committer or in its commit under way (at most 32 MiB).", func() float64 { return float64(st.Stats().QueuedBytes) })
	st.ObserveCommits(func(c bolt.CommitStats) { mt.ObserveStoreCommit(c.Duration) })
	st.ObserveCheckpoints(func(c bolt.CheckpointStats) { mt.ObserveStoreCheckpoint(c.Duration) })
	return mt
}

// webhookBacklog reads the outbox's backlog at scrape time, bounded to 2 s;
// a store that does not answer leaves the gauges out of that scrape (and
// is logged).
func webhookBacklog(st *bolt.Store, log *slog.Logger) func() (int, int, time.Duration, bool) {
	return func() (int, int, time.Duration, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		b, err := webhook.ReadBacklog(ctx, st)
		if err != nil {
			log.Warn("webhook backlog not read", "err", err)
			return 0, 0, 0, false
		}
		var age time.Duration
		if !b.Oldest.IsZero() {
			age = max(0, time.Since(b.Oldest))
		}
		return b.Pending, b.Failed, age, true
	}
}

// gzipJSON compresses JSON answers over 1 KiB for clients that send
// Accept-Encoding: gzip, at gzip's fastest level (klauspost/compress: its
// writers are pooled and stream; a streamed catch-up page stays streamed,
// the writer holds one window, not the answer). zstd is off: clients speak
// gzip, and its encoder holds more memory per answer.
func gzipJSON(h http.Handler) (http.Handler, error) {
	wrap, err := gzhttp.NewWrapper(gzhttp.MinSize(1024), gzhttp.CompressionLevel(gzip.BestSpeed),
		gzhttp.ContentTypes([]string{"application/json"}), gzhttp.EnableZstd(false))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return wrap(h), nil
}

// MetricsAddr is the bound metrics address ("" without --metrics-addr).
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// openMetrics binds the metrics listener: /metrics only, a few
// connections, time-bounded.
func (m *Main) openMetrics() error {
	ln, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener on %s: %w", m.Config.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Metrics.Handler())
	m.metricsLn = newLimitListener(ln, debugConnLimit, 0, m.Log)
	m.metricsS = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	return nil
}

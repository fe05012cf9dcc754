package lambdaenv

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/tripsense/tripsense/cmd/internal/buildinfo"
	"github.com/tripsense/tripsense/metrics"
)

// EMFNamespace is the CloudWatch namespace of every function's metrics.
const EMFNamespace = "Tripsense"

// Metrics is one function's instrumentation: the collectors of package
// metrics (the names of the single binary's /metrics) and the EMF writer
// that puts them into the function's log, as CloudWatch embedded metric
// format records with the dimension function=<name>, after every
// invocation (Flushed).
type Metrics struct {
	*metrics.Metrics
	EMF *metrics.EMF
	log *slog.Logger
}

// NewMetrics returns the metrics of function fn, written to w (the
// function's log).
func NewMetrics(fn string, w io.Writer, log *slog.Logger) *Metrics {
	bi := buildinfo.Get()
	mt := metrics.New(metrics.Build{Version: bi.Version, Revision: bi.Revision, GoVersion: bi.GoVersion})
	return &Metrics{
		Metrics: mt,
		EMF:     &metrics.EMF{Gatherer: mt.Registry, Namespace: EMFNamespace, Dimensions: map[string]string{"function": fn}, Out: w},
		log:     log,
	}
}

// Flushed returns h with the metrics flushed after every invocation, so
// each invocation's counts reach CloudWatch with its log lines. A failed
// flush is logged; it never fails the invocation.
func Flushed[Req, Resp any](m *Metrics, h func(context.Context, Req) (Resp, error)) func(context.Context, Req) (Resp, error) {
	return func(ctx context.Context, req Req) (Resp, error) {
		resp, err := h(ctx, req)
		if ferr := m.EMF.Flush(); ferr != nil && m.log != nil {
			m.log.Warn("metrics not written", "err", ferr)
		}
		return resp, err
	}
}

// lockedWriter serialises the writes of the logger and the EMF writer to
// the function's log, so that their lines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

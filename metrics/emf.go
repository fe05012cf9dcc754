package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// EMF writes the tripsense_* metrics of a registry as CloudWatch embedded
// metric format records (one JSON object per line) to Out, which in a
// Lambda is its log: CloudWatch Logs extracts the metrics, under the same
// names as /metrics has, with the labels as dimensions. A Lambda calls
// Flush at the end of every invocation.
//
// What a record holds, per series: a counter's increase since the last
// Flush (Unit Count; a series that did not move is left out), a gauge's
// value, and of a histogram its _count and _sum increases (CloudWatch
// computes averages from them; the buckets stay on the Prometheus side).
// Series with the same labels share one record. Safe for concurrent use.
type EMF struct {
	Gatherer prometheus.Gatherer
	// Namespace is the CloudWatch namespace (e.g. "Tripsense").
	Namespace string
	// Dimensions are added to every record and are dimensions of every
	// metric (e.g. {"function": "lambda-ws"}).
	Dimensions map[string]string
	Out        io.Writer
	// Now is the records' timestamp (time.Now when nil).
	Now func() time.Time

	mu   sync.Mutex
	last map[string]float64 // previous cumulative values by series key
}

// emfMaxMetrics is EMF's limit of metrics per record.
const emfMaxMetrics = 100

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

type emfRecord struct {
	dims    map[string]string
	metrics []emfMetric
	values  map[string]float64
}

// Flush writes one record per label set whose metrics moved.
func (e *EMF) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == nil {
		e.last = map[string]float64{}
	}
	fams, err := e.Gatherer.Gather()
	if err != nil {
		return fmt.Errorf("emf: gather: %w", err)
	}
	records := map[string]*emfRecord{}
	var order []string
	add := func(labels []*dto.LabelPair, name, unit string, v float64) {
		dims := make(map[string]string, len(labels)+len(e.Dimensions))
		for k, v := range e.Dimensions {
			dims[k] = v
		}
		for _, l := range labels {
			dims[l.GetName()] = l.GetValue()
		}
		key := dimsKey(dims)
		r := records[key]
		if r == nil {
			r = &emfRecord{dims: dims, values: map[string]float64{}}
			records[key] = r
			order = append(order, key)
		}
		r.metrics = append(r.metrics, emfMetric{Name: name, Unit: unit})
		r.values[name] = v
	}
	delta := func(key string, now float64) float64 {
		d := now - e.last[key]
		if d < 0 { // a counter reset: the process restarted
			d = now
		}
		e.last[key] = now
		return d
	}
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		for _, m := range f.GetMetric() {
			key := name + "{" + labelsKey(m.GetLabel()) + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				if d := delta(key, m.GetCounter().GetValue()); d != 0 {
					add(m.GetLabel(), name, "Count", d)
				}
			case dto.MetricType_GAUGE:
				if v := m.GetGauge().GetValue(); !math.IsNaN(v) {
					add(m.GetLabel(), name, unitOf(name), v)
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				if d := delta(key+"_count", float64(h.GetSampleCount())); d != 0 {
					add(m.GetLabel(), name+"_count", "Count", d)
					add(m.GetLabel(), name+"_sum", unitOf(name), delta(key+"_sum", h.GetSampleSum()))
				}
			}
		}
	}
	ts := time.Now
	if e.Now != nil {
		ts = e.Now
	}
	ms := ts().UnixMilli()
	for _, key := range order {
		r := records[key]
		for len(r.metrics) > 0 {
			n := min(len(r.metrics), emfMaxMetrics)
			if err := e.write(ms, r, r.metrics[:n]); err != nil {
				return err
			}
			r.metrics = r.metrics[n:]
		}
	}
	return nil
}

func (e *EMF) write(ms int64, r *emfRecord, ms2 []emfMetric) error {
	keys := make([]string, 0, len(r.dims))
	for k := range r.dims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dimSets := [][]string{keys}
	obj := map[string]any{
		"_aws": map[string]any{
			"Timestamp": ms,
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace": e.Namespace, "Dimensions": dimSets, "Metrics": ms2,
			}},
		},
	}
	for k, v := range r.dims {
		obj[k] = v
	}
	for _, m := range ms2 {
		obj[m.Name] = r.values[m.Name]
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("emf: %w", err)
	}
	if _, err := e.Out.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("emf: write: %w", err)
	}
	return nil
}

// unitOf is the CloudWatch unit a metric's name says.
func unitOf(name string) string {
	switch {
	case strings.HasSuffix(name, "_seconds"):
		return "Seconds"
	case strings.HasSuffix(name, "_bytes"):
		return "Bytes"
	}
	return "None"
}

func labelsKey(ls []*dto.LabelPair) string {
	var b strings.Builder
	for _, l := range ls { // Gather sorts labels by name
		b.WriteString(l.GetName())
		b.WriteByte('=')
		b.WriteString(l.GetValue())
		b.WriteByte(',')
	}
	return b.String()
}

func dimsKey(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + d[k] + ",")
	}
	return b.String()
}

package lambdaenvtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// EMFRecord is one CloudWatch embedded metric format record of a log.
type EMFRecord map[string]any

// EMF returns the EMF records among the log's lines (the other lines are
// the function's log records), each checked against the format's
// specification: an "_aws" object with a millisecond Timestamp and
// CloudWatchMetrics directives, each with a Namespace, at most 100
// Metrics (Name, and Unit when given, one of the units used here) whose
// values are numbers at the top level, and Dimensions sets of at most 30
// keys whose values are strings at the top level. It fails tb on the
// first record that breaks a rule.
func EMF(tb testing.TB, log []byte) []EMFRecord {
	tb.Helper()
	var out []EMFRecord
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"_aws"`)) {
			continue
		}
		var r EMFRecord
		if err := json.Unmarshal(line, &r); err != nil {
			tb.Fatalf("EMF line is not JSON: %v\n%s", err, line)
		}
		checkEMF(tb, r, line)
		out = append(out, r)
	}
	return out
}

var emfUnits = map[string]bool{"Count": true, "Seconds": true, "Bytes": true, "None": true}

func checkEMF(tb testing.TB, r EMFRecord, line []byte) {
	tb.Helper()
	fail := func(why string) { tb.Helper(); tb.Fatalf("invalid EMF record (%s):\n%s", why, line) }
	meta, ok := r["_aws"].(map[string]any)
	if !ok {
		fail("_aws is not an object")
	}
	if ts, ok := meta["Timestamp"].(float64); !ok || ts < 1e12 || ts != float64(int64(ts)) {
		fail("Timestamp is not milliseconds since the epoch")
	}
	dirs, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		fail("no CloudWatchMetrics directive")
	}
	for _, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			fail("a directive is not an object")
		}
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" {
			fail("no Namespace")
		}
		dimSets, ok := dir["Dimensions"].([]any)
		if !ok {
			fail("no Dimensions")
		}
		for _, ds := range dimSets {
			keys, ok := ds.([]any)
			if !ok || len(keys) > 30 {
				fail("a dimension set is not a list of at most 30 keys")
			}
			for _, k := range keys {
				name, ok := k.(string)
				if !ok {
					fail("a dimension key is not a string")
				}
				if _, ok := r[name].(string); !ok {
					fail("dimension " + name + " has no string value")
				}
			}
		}
		ms, ok := dir["Metrics"].([]any)
		if !ok || len(ms) == 0 || len(ms) > 100 {
			fail("Metrics is not a list of 1 to 100 metrics")
		}
		for _, m := range ms {
			md, ok := m.(map[string]any)
			if !ok {
				fail("a metric is not an object")
			}
			name, ok := md["Name"].(string)
			if !ok || name == "" {
				fail("a metric has no Name")
			}
			if u, ok := md["Unit"]; ok && !emfUnits[u.(string)] {
				fail("metric " + name + " has an unknown Unit")
			}
			if _, ok := r[name].(float64); !ok {
				fail("metric " + name + " has no number value")
			}
		}
	}
}

// Sum adds the values of metric over the records whose top-level members
// include every pair of dims (name, value, name, value, ...).
func Sum(records []EMFRecord, metric string, dims ...string) float64 {
	var s float64
next:
	for _, r := range records {
		v, ok := r[metric].(float64)
		if !ok {
			continue
		}
		for i := 0; i+1 < len(dims); i += 2 {
			if r[dims[i]] != dims[i+1] {
				continue next
			}
		}
		s += v
	}
	return s
}

// Has reports whether some record carries metric with dims.
func Has(records []EMFRecord, metric string, dims ...string) bool {
next:
	for _, r := range records {
		if _, ok := r[metric].(float64); !ok {
			continue
		}
		for i := 0; i+1 < len(dims); i += 2 {
			if r[dims[i]] != dims[i+1] {
				continue next
			}
		}
		return true
	}
	return false
}

// Log is a function's log in a test: safe for concurrent writes, and a
// test can wait for the records it expects.
type Log struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced by every write
}

// NewLog returns an empty log.
func NewLog() *Log { return &Log{changed: make(chan struct{})} }

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return n, err
}

// Bytes is a copy of what was written so far.
func (l *Log) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

// WaitEMF waits, up to timeout, until the log's EMF records satisfy ok,
// and returns them; it fails tb with the log when they never do.
func (l *Log) WaitEMF(tb testing.TB, timeout time.Duration, ok func([]EMFRecord) bool) []EMFRecord {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		b, changed := bytes.Clone(l.buf.Bytes()), l.changed
		l.mu.Unlock()
		recs := EMF(tb, b)
		if ok(recs) {
			return recs
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("the EMF records never showed what the test waits for after %v; log:\n%s", timeout, b)
			return nil
		}
	}
}

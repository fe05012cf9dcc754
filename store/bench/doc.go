// Package bench holds the storage benchmarks behind docs/benchmarks.md
// ("Durable store"): durable appends with 1, 16 and 64 concurrent senders
// for the bbolt store (store/bolt, the chosen engine), for bbolt's own
// db.Batch with default and tuned settings, and for a pebble prototype of
// the same append; the disk's single-writer sync rate; and catch-up reads
// of 100 messages in rooms of 1,000 and 1,000,000 messages.
//
// Everything is in _test.go files: this package is never linked into a
// binary, so pebble stays a benchmark-only dependency. Run it with
//
//	go test -run '^$' -bench . -benchtime 2s ./store/bench
//
// Data goes to the default temporary directory (TMPDIR); point it at the
// disk you want to measure.
package bench

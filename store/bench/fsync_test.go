//go:build linux

// These benchmarks measure Linux's fdatasync and fallocate, which the store uses there.

package bench

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSingleWriterSync is the disk's single-writer sync rate: one
// goroutine appending 128 bytes to a file and fsyncing, again and again.
// It is the baseline of the durable-append target (sends/s with 16 and 64
// senders >= 10x this rate).
func BenchmarkSingleWriterSync(b *testing.B) {
	b.Run("append+fsync", func(b *testing.B) {
		f := createFile(b, 0)
		buf := make([]byte, 128)
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "syncs/s")
	})
	// What a bbolt commit does twice (pages, then meta): overwrite a page of
	// an allocated file and fdatasync.
	b.Run("overwrite4k+fdatasync", func(b *testing.B) {
		const pages = 4096
		f := createFile(b, pages*4096)
		buf := make([]byte, 4096)
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			if _, err := f.WriteAt(buf, int64(i%pages)*4096); err != nil {
				b.Fatal(err)
			}
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "syncs/s")
	})
}

// BenchmarkCommitShapedSync is the disk's latency for the syncs of one
// commit in the paced shape (peer-10-paced: 5-6 writes per commit), with no
// CPU work around them: bbolt's commit writes about 21 pages, fdatasyncs,
// writes the meta page and fdatasyncs again; a write-ahead log's commit is
// one write and one fdatasync. It reports the median, p99 and max of one
// commit. A send waits for the commit under way and then its own.
func BenchmarkCommitShapedSync(b *testing.B) {
	for _, c := range []struct {
		name  string
		pages int  // 4 KiB pages written before the first sync
		meta  bool // then one more page and a second sync
	}{{"bbolt/21pages+fdatasync+meta+fdatasync", 21, true}, {"log/1write+fdatasync", 1, false}} {
		b.Run(c.name, func(b *testing.B) {
			const filePages = 16384
			f := createFile(b, filePages*4096)
			buf := make([]byte, 4096)
			took := make([]time.Duration, 0, b.N)
			fd := int(f.Fd())
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				for p := range c.pages {
					if _, err := f.WriteAt(buf, int64((i*c.pages+p)%(filePages-1)+1)*4096); err != nil {
						b.Fatal(err)
					}
				}
				if err := syscall.Fdatasync(fd); err != nil {
					b.Fatal(err)
				}
				if c.meta {
					if _, err := f.WriteAt(buf, 0); err != nil {
						b.Fatal(err)
					}
					if err := syscall.Fdatasync(fd); err != nil {
						b.Fatal(err)
					}
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
			b.ReportMetric(ms(took[len(took)-1]), "max-ms")
		})
	}
}

func createFile(b *testing.B, size int64) *os.File {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	if size > 0 {
		if _, err := f.Write(make([]byte, size)); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

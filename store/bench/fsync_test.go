package bench

import (
	"os"
	"path/filepath"
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

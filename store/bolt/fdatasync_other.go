//go:build !linux

package bolt

import "os"

// fdatasync flushes f to the disk. Outside Linux there is no fdatasync in
// Go's syscall package, so it is a full sync, as bbolt does there: on
// macOS, os.File.Sync asks for F_FULLFSYNC, so that the drive's own cache
// is flushed too.
func fdatasync(f *os.File) error { return f.Sync() }

//go:build unix

package main

import "syscall"

// fdLimit returns the soft limit on open descriptors (0 if unknown). The
// Go runtime has already raised it to the hard limit at start-up.
func fdLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur) // int64 on some BSDs
}

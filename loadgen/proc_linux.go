package loadgen

import (
	"fmt"
	"syscall"
	"time"
)

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFileLimit raises the soft RLIMIT_NOFILE toward need (at most the
// hard limit) and reports the resulting soft limit. It fails when even the
// hard limit is below need.
func raiseFileLimit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	want := min(need, lim.Max)
	nl := lim
	nl.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nl); err != nil {
		return lim.Cur, fmt.Errorf("setrlimit nofile %d: %w", want, err)
	}
	if want < need {
		return want, fmt.Errorf("need %d file descriptors but the hard limit is %d: raise it (ulimit -Hn, /etc/security/limits.conf) and run again", need, lim.Max)
	}
	return want, nil
}

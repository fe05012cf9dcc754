package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestFloorPercent(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, c := range []struct {
		name               string
		floor, live, roots uint64
		base, want         int
	}{
		{"before the first cycle: the heap minimum scaled to the floor", 64 * mib, 0, 0, 100, 1600},
		{"a small heap: the heap minimum decides", 64 * mib, 1 * mib, 1 * mib, 100, 1600},
		{"5 MiB live: the goal is the floor", 64 * mib, 5 * mib, 1 * mib, 100, 983},
		{"above half the floor: GOGC's own", 64 * mib, 40 * mib, 1 * mib, 100, 100},
		{"over the floor", 64 * mib, 80 * mib, 1 * mib, 100, 100},
		{"the operator's GOGC when higher", 64 * mib, 5 * mib, 1 * mib, 2000, 2000},
		{"a floor under the heap minimum", 1 * mib, 0, 0, 100, 100},
	} {
		if got := floorPercent(c.floor, c.live, c.roots, c.base); got != c.want {
			t.Errorf("%s: floorPercent(%d, %d, %d, %d) = %d, want %d", c.name, c.floor, c.live, c.roots, c.base, got, c.want)
		}
	}
}

// gogcOrSkip returns the process's GOGC, skipping the test when the
// collector is off (the floor does not run then).
func gogcOrSkip(t *testing.T) int {
	t.Helper()
	base := currentGOGC()
	if base < 0 {
		t.Skip("GOGC=off: the floor does not run")
	}
	return base
}

// stopRestores stops f and checks that GOGC is base again.
func stopRestores(t *testing.T, f *heapFloor, base int) {
	t.Helper()
	f.stop()
	if p := debug.SetGCPercent(base); p != base {
		t.Errorf("GOGC %d after stop, want %d back", p, base)
	}
}

// afterCycle runs a collection, has the floor adjust to it (as its
// cleanup does after each cycle) and returns the GOGC it set.
func afterCycle(f *heapFloor) int {
	runtime.GC()
	f.adjust()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.percent
}

func heapGoal() uint64 { return readMetric("/gc/heap/goal:bytes") }

// readMetric reads one runtime/metrics value of kind uint64.
func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeapFloorSetsTheGoal: with the floor running, a small live heap's
// goal is the floor (not twice the live heap), a live heap over half the
// floor gets GOGC's own goal, and stop gives GOGC back. Not parallel: GOGC
// is the process's. The floor is large (256 MiB of goal, not of memory)
// so that what other tests of the package left live is small beside it.
func TestHeapFloorSetsTheGoal(t *testing.T) {
	base := gogcOrSkip(t)
	const floor = 256 << 20
	f := startHeapFloor(floor, nil)
	defer f.stop()

	if p := afterCycle(f); p <= base {
		t.Errorf("GOGC %d with a small heap, want more than %d", p, base)
	}
	if g := heapGoal(); g < floor*9/10 || g > floor*21/20 {
		t.Errorf("heap goal %d MiB with a small heap, want about the floor, %d MiB", g>>20, floor>>20)
	}

	live := make([]byte, 144<<20) // over half the floor
	if p := afterCycle(f); p != base {
		t.Errorf("GOGC %d with 144 MiB live, want the base %d", p, base)
	}
	if g := heapGoal(); g < 2*uint64(len(live))*9/10 {
		t.Errorf("heap goal %d MiB with 144 MiB live, want GOGC's own (about %d MiB)", g>>20, 2*len(live)>>20)
	}
	runtime.KeepAlive(live)

	live = nil
	if p := afterCycle(f); p <= base {
		t.Errorf("GOGC %d once the heap is small again, want more than %d", p, base)
	}
	stopRestores(t, f, base)
}

// TestHeapFloorFollowsTheCycles: the floor adjusts by itself after the
// collector's cycles (its cleanup re-arms every time), until stopped.
func TestHeapFloorFollowsTheCycles(t *testing.T) {
	base := gogcOrSkip(t)
	adjusted := make(chan uint64, 1)
	f := startHeapFloor(64<<20, func(_ int, cycles uint64) {
		select {
		case adjusted <- cycles:
		default: // a later one will do
		}
	})
	defer f.stop()
	<-adjusted // the one at start
	// Collect until three adjustments of distinct cycles came (a sentinel
	// armed during a cycle's mark survives it: one cycle may pass without).
	seen := map[uint64]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the floor adjusted after %d cycles only", len(seen))
		}
		runtime.GC()
		select {
		case c := <-adjusted:
			seen[c] = true
		default:
		}
	}
	stopRestores(t, f, base)
}

// TestHeapFloorGivesBackAnIdleHeap: garbage the floor let wait is
// collected and given back once the server is idle (a look after one that
// saw allocations, with nothing allocated since), and only once.
func TestHeapFloorGivesBackAnIdleHeap(t *testing.T) {
	gogcOrSkip(t)
	const floor = 256 << 20 // 64 MiB of garbage stays under it: no cycle meanwhile
	f := startHeapFloor(floor, nil)
	defer f.stop()
	heap := func() uint64 { return readMetric("/memory/classes/heap/objects:bytes") }
	var keep []byte
	for range 64 {
		keep = make([]byte, 1<<20) // garbage but the last
		keep[0] = 1
	}
	before := heap()
	if f.idleLook() {
		t.Fatal("released while 64 MiB were allocated since the last look")
	}
	if !f.idleLook() {
		t.Fatalf("idle with %d MiB of heap objects, and nothing released", before>>20)
	}
	if after := heap(); after > before/2 {
		t.Errorf("heap objects %d MiB after the release, want well under the %d MiB before", after>>20, before>>20)
	}
	if f.idleLook() {
		t.Error("released again with nothing to release")
	}
	runtime.KeepAlive(keep)
}

// TestHeapFloorOff: a floor of 0 leaves GOGC alone.
func TestHeapFloorOff(t *testing.T) {
	base := currentGOGC()
	f := startHeapFloor(0, func(int, uint64) { t.Error("the floor ran with 0") })
	if f != nil {
		t.Error("startHeapFloor(0) started a floor")
	}
	runtime.GC()
	if p := debug.SetGCPercent(base); p != base {
		t.Errorf("GOGC %d with the floor off, want %d", p, base)
	}
	f.stop()
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"0": 0, "64MiB": 64 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "1000B": 1000, " 2TiB ": 2 << 40} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "64MB", "-1", "1.5GiB", "MiB", "99999999999TiB"} {
		if n, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, n)
		}
	}
	for n, want := range map[uint64]string{0: "0", 1000: "1000", 64 << 20: "64MiB", 3 << 30: "3GiB", 1536: "1536"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
		if back, err := parseBytes(formatBytes(n)); err != nil || back != n {
			t.Errorf("parseBytes(formatBytes(%d)) = %d, %v", n, back, err)
		}
	}
}

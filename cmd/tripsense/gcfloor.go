package main

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The heap floor keeps the garbage collector's heap goal at no less than a
// fixed size (--gc-heap-floor), the way a "memory target" would
// (golang/go#44309; servers did the same with a heap ballast before Go had
// a memory limit). With Go's default GOGC=100 the goal is twice the live
// heap, and the server's live heap is small: about 5 MB while it delivers
// 50,000 messages a second in rooms of 10, so the collector ran 5 times a
// second, each cycle taking a quarter of the 2 cores for 5-18 ms, and that
// was a measured part of the p99 (docs/benchmarks.md, "The collector's
// share of the tail"). With a floor of 64 MiB it runs about every 2 s.
//
// Above half the floor the goal is GOGC's own (twice the live heap at the
// default), so the floor adds no memory to a server whose heap is large
// already; a small heap is let grow up to the floor before it is collected.
// GOMEMLIMIT still bounds the total, and GOGC=off turns the floor off with
// the collector.
//
// How: after every cycle (a cleanup on a sentinel object, which runs once
// the sentinel is found unreachable) the floor reads the cycle's live heap
// and roots from runtime/metrics and sets GOGC (debug.SetGCPercent) so that
// the next goal is the floor, or GOGC's own when that is higher.
//
// An idle server would keep the floor's garbage (up to the floor) until a
// cycle, and with nothing allocated the next one is Go's forced cycle,
// minutes away. So every idleEvery the floor looks at what was allocated
// since its last look: under a sixteenth of the floor, with more than an
// eighth of it to free, it collects and gives the free memory back to the
// OS (debug.FreeOSMemory), once.

// defaultGCHeapFloor is --gc-heap-floor's default.
const defaultGCHeapFloor = 64 << 20

// idleEvery is how often the floor looks for an idle server.
const idleEvery = 30 * time.Second

// goHeapMinimum is the runtime's least heap goal at GOGC=100 (4 MiB,
// runtime/mgcpacer.go), which it scales with GOGC like the rest of the goal.
const goHeapMinimum = 4 << 20

// floorPercent is the GOGC that makes the next heap goal floor bytes after
// a cycle that left live bytes of heap and roots bytes of stacks and
// globals, and never less than base, the operator's GOGC. Go's goal at
// GOGC=p is the larger of live + (live+roots)*p/100 and the heap minimum
// scaled the same way (4 MiB * p/100); the floor's percent is the largest
// that keeps both at or under floor.
func floorPercent(floor, live, roots uint64, base int) int {
	if live >= floor {
		return base
	}
	p := floor / goHeapMinimum * 100
	if scan := live + roots; scan > 0 {
		p = min(p, (floor-live)*100/scan)
	}
	return max(base, int(min(p, math.MaxInt32)))
}

// heapFloor is a running floor (startHeapFloor).
type heapFloor struct {
	floor uint64
	base  int
	// adjusted, when set, is called after each adjustment with the GOGC
	// in force and the number of cycles completed when it was read
	// (tests wait on it).
	adjusted func(percent int, cycles uint64)

	mu      sync.Mutex
	stopped bool
	percent int
	samples []metrics.Sample

	quit       chan struct{} // closed by stop: ends the idle looks
	idleMu     sync.Mutex    // guards idle and lastAllocs
	idle       []metrics.Sample
	lastAllocs uint64 // heap bytes allocated in all at the last idle look
}

// startHeapFloor keeps the heap goal at floor bytes or more until its
// stop is called, which gives GOGC back its value from before. It returns
// nil (whose stop does nothing) when floor is 0 or the collector is off.
func startHeapFloor(floor uint64, adjusted func(percent int, cycles uint64)) *heapFloor {
	base := currentGOGC()
	if floor == 0 || base < 0 {
		return nil
	}
	f := &heapFloor{floor: floor, base: base, percent: base, adjusted: adjusted, quit: make(chan struct{}),
		samples: []metrics.Sample{
			{Name: "/gc/heap/live:bytes"},
			{Name: "/gc/scan/stack:bytes"},
			{Name: "/gc/scan/globals:bytes"},
			{Name: "/gc/cycles/total:gc-cycles"},
		},
		idle: []metrics.Sample{
			{Name: "/gc/heap/allocs:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/gc/heap/live:bytes"},
		},
	}
	f.idleLook()
	f.arm()
	// Until the first cycle, Go's minimum goal (4 MB) holds: start from
	// the floor now, as if the heap were empty.
	f.adjust()
	go f.idleLoop()
	return f
}

// currentGOGC is the collector's percent in force (GOGC's; -1 when off).
// Go has no getter: setting a value returns the one before.
func currentGOGC() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func (f *heapFloor) idleLoop() {
	t := time.NewTicker(idleEvery)
	defer t.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-t.C:
			f.idleLook()
		}
	}
}

// idleLook gives the heap's garbage back when the server allocated under a
// sixteenth of the floor since the last look and the heap holds more than
// an eighth of the floor besides its live bytes: it reports whether it did.
func (f *heapFloor) idleLook() (released bool) {
	f.idleMu.Lock()
	defer f.idleMu.Unlock()
	metrics.Read(f.idle)
	allocs, objects, live := f.idle[0].Value.Uint64(), f.idle[1].Value.Uint64(), f.idle[2].Value.Uint64()
	quiet := f.lastAllocs != 0 && allocs-f.lastAllocs < f.floor/16
	f.lastAllocs = allocs
	if !quiet || objects <= live+f.floor/8 {
		return false
	}
	debug.FreeOSMemory()
	metrics.Read(f.idle)
	f.lastAllocs = f.idle[0].Value.Uint64()
	return true
}

// sentinel is what the floor's cleanup is attached to: large enough not to
// share a tiny-allocator block with other objects, which would keep it
// reachable.
type sentinel struct{ _ [4]uint64 }

// arm attaches the next cycle's cleanup.
func (f *heapFloor) arm() {
	runtime.AddCleanup(new(sentinel), (*heapFloor).cycle, f)
}

// cycle runs on the runtime's cleanup goroutine after a collection found
// the sentinel unreachable: it adjusts GOGC and arms the next cycle. A
// sentinel allocated while the next cycle is already marking survives it,
// so one cycle passes without an adjustment, and its goal follows the GOGC
// set for the heap before: a live heap that grew tenfold in that one cycle
// would get a goal ten times too large, once. At the rates measured this
// does not come up: with the floor a cycle is seconds apart from the next,
// and the cleanup runs within microseconds of the sweep.
func (f *heapFloor) cycle() {
	f.mu.Lock()
	stopped := f.stopped
	f.mu.Unlock()
	if stopped {
		return
	}
	f.adjust()
	f.arm()
}

// adjust sets GOGC for the next goal from the last cycle's heap.
func (f *heapFloor) adjust() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	metrics.Read(f.samples)
	live := f.samples[0].Value.Uint64()
	roots := f.samples[1].Value.Uint64() + f.samples[2].Value.Uint64()
	p := floorPercent(f.floor, live, roots, f.base)
	// Setting GOGC recomputes the pacer's goal under the heap lock: skip
	// changes of under 5%.
	if d := p - f.percent; d != 0 && (p == f.base || math.Abs(float64(d)) > float64(f.percent)/20) {
		debug.SetGCPercent(p)
		f.percent = p
	}
	if f.adjusted != nil {
		f.adjusted(f.percent, f.samples[3].Value.Uint64())
	}
}

// stop ends the floor and gives GOGC back its value from before; nil
// does nothing.
func (f *heapFloor) stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	close(f.quit)
	debug.SetGCPercent(f.base)
}

// byteUnits are the suffixes of parseBytes and formatBytes, largest first.
var byteUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// parseBytes reads a size the way GOMEMLIMIT is written: a number of
// bytes, optionally followed by B, KiB, MiB, GiB or TiB ("64MiB").
func parseBytes(in string) (uint64, error) {
	s := strings.TrimSpace(in)
	shift := uint(0)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a size: want bytes, or a number with B, KiB, MiB, GiB or TiB (64MiB)")
	}
	if n > math.MaxUint64>>shift {
		return 0, fmt.Errorf("%s is too large", strings.TrimSpace(in))
	}
	return n << shift, nil
}

// formatBytes writes n as parseBytes reads it, in the largest unit that
// divides it.
func formatBytes(n uint64) string {
	for _, u := range byteUnits[:len(byteUnits)-1] {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// memStatus is the part of /proc/PID/status the idle scenario reads, in KiB.
type memStatus struct {
	VmRSS   int64 // resident set: anonymous + file-backed (the store's mmap) + shmem
	RssAnon int64 // anonymous resident memory: Go heap and stacks (kernel socket buffers are in neither)
	VmHWM   int64 // peak resident set
}

// readMemStatus reads /proc/PID/status (pid 0: this process).
func readMemStatus(pid int) (memStatus, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return memStatus{}, fmt.Errorf("read %s (Linux only; is the --pid right?): %w", path, err)
	}
	return parseMemStatus(data)
}

func parseMemStatus(data []byte) (memStatus, error) {
	var m memStatus
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.VmRSS
		case "RssAnon":
			dst = &m.RssAnon
		case "VmHWM":
			dst = &m.VmHWM
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("status line %q: want \"N kB\"", sc.Text())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("status line %q: %w", sc.Text(), err)
		}
		*dst = n
		found++
	}
	if m.VmRSS == 0 {
		return m, fmt.Errorf("no VmRSS in status")
	}
	return m, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports (it is fixed in the kernel ABI).
const clockTicks = 100

// procCPU returns the user+system CPU time of pid from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// After ")": state is field 3, so utime (14) and stime (15) are f[11], f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procName returns the command name of pid, "" when unknown.
func procName(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// machineBusy returns the busy CPU time of the whole machine (every CPU:
// user, nice, system, irq, softirq, steal) from the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i != 3 && i != 4 { // idle and iowait are not busy
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// cpuMeter measures CPU used by the client, (with a pid) the server, and
// the whole machine over an interval, in cores (CPU seconds per wall
// second). The machine figure shows what else competed for the CPUs:
// kernel network work not charged to either process, and other programs.
type cpuMeter struct {
	pid                  int
	wall                 time.Time
	self, other, machine time.Duration
	otherOK, machineOK   bool
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, wall: time.Now(), self: selfCPU()}
	if pid > 0 {
		if d, err := procCPU(pid); err == nil {
			m.other, m.otherOK = d, true
		}
	}
	if d, err := machineBusy(); err == nil {
		m.machine, m.machineOK = d, true
	}
	return m
}

// cpuUse is a cpuMeter reading in cores; -1 when unknown.
type cpuUse struct{ client, server, machine float64 }

func (m *cpuMeter) stop() cpuUse {
	u := cpuUse{server: -1, machine: -1}
	wall := time.Since(m.wall).Seconds()
	if wall <= 0 {
		return u
	}
	u.client = (selfCPU() - m.self).Seconds() / wall
	if m.otherOK {
		if d, err := procCPU(m.pid); err == nil {
			u.server = (d - m.other).Seconds() / wall
		}
	}
	if m.machineOK {
		if d, err := machineBusy(); err == nil {
			u.machine = (d - m.machine).Seconds() / wall
		}
	}
	return u
}

package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Machine describes where the client ran (the server shares it).
type Machine struct {
	GoVersion  string `json:"goVersion"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	NumCPU     int    `json:"numCPU"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	FileLimit  uint64 `json:"fileLimit,omitempty"`
}

func machine() Machine {
	return Machine{
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
}

// Report is one run (one preset, or the flags alone).
type Report struct {
	Preset   string         `json:"preset,omitempty"`
	Mode     string         `json:"mode"`
	URL      string         `json:"url"`
	Prefix   string         `json:"prefix"`
	Fanout   *FanoutResult  `json:"fanout,omitempty"`
	Catchup  *CatchupResult `json:"catchup,omitempty"`
	Idle     *IdleResult    `json:"idle,omitempty"`
	Durable  []DurableRound `json:"durable,omitempty"`
	Problems []string       `json:"problems"`
	Error    string         `json:"error,omitempty"`
}

// Output is everything one `tripsense bench` printed.
type Output struct {
	Machine Machine  `json:"machine"`
	Reports []Report `json:"reports"`
	OK      bool     `json:"ok"`
}

func writeJSON(w io.Writer, o Output) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(o)
}

func latLine(l LatencySummary) string {
	if l.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (n=%d)", l.P50Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.Count)
}

func cores(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

// writeTable prints o for people.
func writeTable(w io.Writer, o Output) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, args...)) }
	m := o.Machine
	fmt.Fprintf(tw, "machine: %s %s/%s, %d CPUs (GOMAXPROCS %d), client file limit %d\n", m.GoVersion, m.OS, m.Arch, m.NumCPU, m.GOMAXPROCS, m.FileLimit)
	for _, r := range o.Reports {
		name := r.Preset
		if name == "" {
			name = r.Mode
		}
		fmt.Fprintf(tw, "\n== %s (mode %s, %s, ids %s-*) ==\n", name, r.Mode, r.URL, r.Prefix)
		if f := r.Fanout; f != nil {
			pace := "unpaced"
			if f.TargetSendsPerSec > 0 {
				pace = fmt.Sprintf("paced to %.0f sends/s", f.TargetSendsPerSec)
				if f.TargetDeliveriesPerSec > 0 {
					pace = fmt.Sprintf("paced to %.0f deliveries/s (%.0f sends/s)", f.TargetDeliveriesPerSec, f.TargetSendsPerSec)
				}
			}
			row("shape", "%d conns in %d room(s) of %d, %d senders x window %d, %s, %d B messages", f.Conns, f.Rooms, f.RoomSize, f.Senders, f.Window, pace, f.SizeBytes)
			row("setup", "members %.2f s, dial %.2f s", f.SetupSec, f.DialSec)
			row("send phase", "%.2f s (rates over the last %.2f s, after warm-up)", f.DurationSec, f.MeasuredSec)
			row("DELIVERED msgs/s", "%.0f", f.DeliveredPerSec)
			row("sends/s, acks/s", "%.0f, %.0f", f.SendsPerSec, f.AcksPerSec)
			row("totals", "sent %d, acked %d, delivered %d", f.Sent, f.Acked, f.Delivered)
			row("LATENCY send->recv", "%s", latLine(f.Latency))
			row("latency send->ack", "%s", latLine(f.AckLatency))
			l := f.Loss
			row("LOST / DUP", "%d / %d  (lost messages %d, expected deliveries %d, foreign %d, unacked-delivered %d)", l.LostDeliveries, l.Dups, l.LostMessages, l.Expected, l.Foreign, l.Unacked)
			row("flow", "stalls %d, late sends %d, drain %.1f ms (complete %v)", f.Stalls, f.LateSends, f.DrainMs, f.Drained)
			row("cpu (cores)", "client %s, server %s, whole machine busy %s of %d", cores(f.ClientCores), cores(f.ServerCores), cores(f.MachineCores), o.Machine.NumCPU)
		}
		if c := r.Catchup; c != nil {
			row("missed", "%d messages in %s, written by %d writers in %.2f s (%.0f/s)", c.Missed, c.Room, c.Writers, c.WriteSec, c.WritePerSec)
			row("HTTP CATCH-UP", "median %.2f ms (min %.2f, max %.2f, %d runs): %d messages, %d requests, %d bytes, lost %d, dup %d",
				c.HTTP.MedianMs, c.HTTP.MinMs, c.HTTP.MaxMs, c.HTTP.Runs, c.HTTP.Messages, c.HTTP.Requests, c.HTTP.Bytes, c.HTTP.Lost, c.HTTP.Dups)
			row("WS CATCH-UP", "median %.2f ms (min %.2f, max %.2f, %d runs): %d messages, %d bytes, lost %d, dup %d; dial %.2f ms (not included)",
				c.WS.MedianMs, c.WS.MinMs, c.WS.MaxMs, c.WS.Runs, c.WS.Messages, c.WS.Bytes, c.WS.Lost, c.WS.Dups, c.WS.DialMedianMs)
		}
		if d := r.Idle; d != nil {
			row("idle conns", "%d (rooms of %d), opened in %.2f s, dropped %d", d.Conns, d.RoomSize, d.OpenSec, d.Dropped)
			if d.PID > 0 {
				row("server", "pid %d (%s): VmRSS %d -> %d KiB, peak %d KiB", d.PID, d.ServerName, d.ServerRSSBeforeKB, d.ServerRSSAfterKB, d.ServerHWMKB)
				row("RSS PER CONN", "%.2f KiB (anonymous part %.2f KiB)", d.ServerRSSPerConnKB, d.ServerRssAnonPerConnKB)
			}
			row("client RSS per conn", "%.2f KiB (the client's own cost, not the server's)", d.ClientRSSPerConnKB)
			if d.Note != "" {
				row("note", "%s", d.Note)
			}
		}
		for _, d := range r.Durable {
			row(fmt.Sprintf("DURABLE %d senders", d.Senders), "%.0f acks/s over %.2f s (window %d), ack %s, cpu client %s server %s machine %s",
				d.AcksPerSec, d.DurationSec, d.Window, latLine(d.AckLatency), cores(d.ClientCores), cores(d.ServerCores), cores(d.MachineCores))
		}
		if r.Error != "" {
			row("ERROR", "%s", r.Error)
		}
		if len(r.Problems) > 0 {
			row("PROBLEMS", "%s", strings.Join(r.Problems, "; "))
		} else if r.Error == "" {
			row("problems", "none")
		}
	}
	return tw.Flush()
}

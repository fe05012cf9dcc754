package loadgen

import (
	"context"
	"strconv"
)

// DurableRound is one sender count of the durable mode: every sender is
// alone in its room (no fan-out) with Window messages in flight, so the
// rate is acknowledged, durably stored sends per second.
type DurableRound struct {
	Senders      int            `json:"senders"`
	Window       int            `json:"window"`
	DurationSec  float64        `json:"durationSec"`
	Acked        int64          `json:"acked"`
	AcksPerSec   float64        `json:"acksPerSec"`
	AckLatency   LatencySummary `json:"ackLatency"`
	ClientCores  float64        `json:"clientCores"`
	ServerCores  float64        `json:"serverCores"`
	MachineCores float64        `json:"machineCores"`
	Problems     []string       `json:"problems,omitempty"`
}

// runDurable runs one send phase per sender count.
func (r *runner) runDurable(ctx context.Context) ([]DurableRound, error) {
	c := r.cfg
	var out []DurableRound
	for _, n := range c.SenderCounts {
		p := planRooms(r.prefix+"-d"+strconv.Itoa(n), n, 1, n)
		label := r.label() + " senders=" + strconv.Itoa(n)
		f, err := r.fanoutPhase(ctx, r.params(label, p, c))
		if err != nil {
			return out, err
		}
		out = append(out, DurableRound{
			Senders: n, Window: c.Window, DurationSec: f.MeasuredSec,
			Acked: f.Acked, AcksPerSec: f.AcksPerSec, AckLatency: f.AckLatency,
			ClientCores: f.ClientCores, ServerCores: f.ServerCores, MachineCores: f.MachineCores,
			Problems: f.problems(),
		})
	}
	return out, nil
}

package loadgen

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// IdleResult is the idle mode's outcome. Memory is in KiB as /proc reports
// it; per-connection values divide the growth by the connections opened.
type IdleResult struct {
	Conns    int     `json:"conns"`
	RoomSize int     `json:"roomSize"`
	SetupSec float64 `json:"setupSec"`
	OpenSec  float64 `json:"openSec"`
	Dropped  int64   `json:"dropped"` // connections the server closed while idle

	PID                    int     `json:"pid,omitempty"`
	ServerName             string  `json:"serverName,omitempty"`
	ServerRSSBeforeKB      int64   `json:"serverRssBeforeKB,omitempty"`
	ServerRSSAfterKB       int64   `json:"serverRssAfterKB,omitempty"`
	ServerRSSPerConnKB     float64 `json:"serverRssPerConnKB,omitempty"`
	ServerRssAnonPerConnKB float64 `json:"serverRssAnonPerConnKB,omitempty"`
	ServerHWMKB            int64   `json:"serverHwmKB,omitempty"`

	// The client's own growth, for scale (it is not the server's cost).
	ClientRSSPerConnKB float64 `json:"clientRssPerConnKB"`
	Note               string  `json:"note,omitempty"`
}

// settleRSS polls the RSS of pid until two readings 250 ms apart differ by
// less than 0.5% (or 5 s pass) and returns the last reading.
func settleRSS(ctx context.Context, pid int) (memStatus, error) {
	prev, err := readMemStatus(pid)
	if err != nil {
		return prev, err
	}
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-tick.C:
		}
		cur, err := readMemStatus(pid)
		if err != nil {
			return cur, err
		}
		if math.Abs(float64(cur.VmRSS-prev.VmRSS)) < 0.005*float64(prev.VmRSS) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// runIdle opens Idle connections that do nothing and reports the server's
// memory growth per connection.
func (r *runner) runIdle(ctx context.Context) (*IdleResult, error) {
	c := r.cfg
	res := &IdleResult{Conns: c.Idle, RoomSize: c.RoomSize, PID: c.PID}
	users := make([]string, c.Idle)
	for i := range users {
		users[i] = userID(r.prefix, i)
	}
	if c.RoomSize >= 1 {
		p := planRooms(r.prefix, c.Idle, min(c.RoomSize, c.Idle), 0)
		r.logf("adding %d members to %d rooms", len(p.users), len(p.rooms))
		t0 := time.Now()
		if err := addMembers(ctx, r.hc, r.t, c.Admin, p.memberships(), c.SetupParallel); err != nil {
			return nil, err
		}
		res.SetupSec = round3(time.Since(t0).Seconds())
	}
	var before memStatus
	if c.PID > 0 {
		res.ServerName = procName(c.PID)
		var err error
		if before, err = settleRSS(ctx, c.PID); err != nil {
			return nil, err
		}
		res.ServerRSSBeforeKB = before.VmRSS
	} else {
		res.Note = "no --pid: server RSS not measured"
	}
	clientBefore, _ := readMemStatus(0)

	r.logf("opening %d idle connections", c.Idle)
	conns := make([]*websocket.Conn, c.Idle)
	var dropped atomic.Int64
	var closing atomic.Bool
	t1 := time.Now()
	err := dialAll(ctx, r.dc, r.t, users, c.DialParallel, func(i int, ws *websocket.Conn) {
		conns[i] = ws
		// A reader answers the server's pings; it ends when the conn closes.
		rctx := ws.CloseRead(context.Background())
		go func() {
			<-rctx.Done()
			if !closing.Load() {
				dropped.Add(1)
			}
		}()
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		closing.Store(true)
		for _, ws := range conns {
			_ = ws.CloseNow()
		}
	}()
	res.OpenSec = round3(time.Since(t1).Seconds())
	r.logf("%d connections open in %.1fs", c.Idle, res.OpenSec)

	if c.PID > 0 {
		after, err := settleRSS(ctx, c.PID)
		if err != nil {
			return nil, err
		}
		res.ServerRSSAfterKB = after.VmRSS
		res.ServerHWMKB = after.VmHWM
		res.ServerRSSPerConnKB = round3(float64(after.VmRSS-before.VmRSS) / float64(c.Idle))
		res.ServerRssAnonPerConnKB = round3(float64(after.RssAnon-before.RssAnon) / float64(c.Idle))
	}
	if clientAfter, err := readMemStatus(0); err == nil && clientBefore.VmRSS > 0 {
		res.ClientRSSPerConnKB = round3(float64(clientAfter.VmRSS-clientBefore.VmRSS) / float64(c.Idle))
	}
	if c.Hold > 0 {
		r.logf("holding %d connections for %v", c.Idle, c.Hold)
		t := time.NewTimer(c.Hold)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	res.Dropped = dropped.Load()
	if res.Dropped > 0 {
		return res, fmt.Errorf("idle: the server closed %d of %d idle connections", res.Dropped, c.Idle)
	}
	return res, nil
}

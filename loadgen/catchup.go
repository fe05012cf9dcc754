package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// catchupPageLimit is the page size asked for (the API's maximum).
const catchupPageLimit = 1000

// CatchupTiming is one kind of catch-up (HTTP or WebSocket) over Repeat runs.
type CatchupTiming struct {
	Runs     int     `json:"runs"`
	MinMs    float64 `json:"minMs"`
	MedianMs float64 `json:"medianMs"`
	MaxMs    float64 `json:"maxMs"`
	Messages int     `json:"messages"` // per run
	Requests int     `json:"requests"` // HTTP requests (or WebSocket frames sent) per run
	Bytes    int64   `json:"bytes"`    // response bytes per run
	Lost     int64   `json:"lost"`     // over all runs
	Dups     int64   `json:"duplicates"`
	// DialMedianMs is the WebSocket connect time, not part of the catch-up time.
	DialMedianMs float64 `json:"dialMedianMs,omitempty"`
}

// CatchupResult is the catchup mode's outcome.
type CatchupResult struct {
	Missed      int           `json:"missed"`
	Writers     int           `json:"writers"`
	Room        string        `json:"room"`
	WriteSec    float64       `json:"writeSec"`
	WritePerSec float64       `json:"writePerSec"`
	HTTP        CatchupTiming `json:"http"`
	WS          CatchupTiming `json:"ws"`
}

// indexCheck verifies that indexes arrive as 1, 2, 3, … exactly once.
type indexCheck struct {
	next       int64
	lost, dups int64
	n          int
}

func newIndexCheck() indexCheck { return indexCheck{next: 1} }

func (c *indexCheck) add(i int64) {
	c.n++
	switch {
	case i == c.next:
		c.next++
	case i < c.next:
		c.dups++
	default:
		c.lost += i - c.next
		c.next = i + 1
	}
}

// finish counts what is missing up to head.
func (c *indexCheck) finish(head int64) {
	if c.next <= head {
		c.lost += head - c.next + 1
		c.next = head + 1
	}
}

// runCatchup writes Missed messages to a room while one member (the reader)
// is offline, then times the reader's catch-up over HTTP and WebSocket.
func (r *runner) runCatchup(ctx context.Context) (*CatchupResult, error) {
	c := r.cfg
	p := planRooms(r.prefix, c.Writers, c.Writers, c.Writers)
	reader := r.prefix + "-reader"
	room := p.rooms[0]
	p.extra = []membership{{Room: room, User: reader}}
	wc := c
	wc.Messages, wc.Rate, wc.SendRate, wc.Warmup = int64(c.Missed), 0, 0, 0
	r.logf("writing %d messages to %s with %d writers while %s is offline", c.Missed, room, c.Writers, reader)
	w, err := r.fanoutPhase(ctx, r.params(r.label()+" write", p, wc))
	if err != nil {
		return nil, err
	}
	if w.Acked != int64(c.Missed) || !w.Loss.OK() {
		return nil, fmt.Errorf("catch-up setup: %d of %d messages acknowledged (%v)", w.Acked, c.Missed, w.problems())
	}
	// The room's log also holds its membership entries (each join takes an
	// index), so the catch-up covers (0, head], not (0, Missed].
	head, err := r.roomHead(ctx, reader, room)
	if err != nil {
		return nil, err
	}
	res := &CatchupResult{Missed: c.Missed, Writers: c.Writers, Room: room, WriteSec: w.DurationSec}
	if w.DurationSec > 0 {
		res.WritePerSec = round1(float64(w.Acked) / w.DurationSec)
	}
	var httpT, wsT, dialT []time.Duration
	for i := range c.Repeat {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := r.httpCatchup(ctx, reader, room, head)
		if err != nil {
			return nil, err
		}
		httpT = append(httpT, h.elapsed)
		res.HTTP.Messages, res.HTTP.Requests, res.HTTP.Bytes = h.check.n, h.requests, h.bytes
		res.HTTP.Lost += h.check.lost
		res.HTTP.Dups += h.check.dups

		ws, err := r.wsCatchup(ctx, reader, room, head)
		if err != nil {
			return nil, err
		}
		wsT = append(wsT, ws.elapsed)
		dialT = append(dialT, ws.dial)
		res.WS.Messages, res.WS.Requests, res.WS.Bytes = ws.check.n, 1, ws.bytes
		res.WS.Lost += ws.check.lost
		res.WS.Dups += ws.check.dups
		r.logf("catch-up %d/%d: HTTP %.1f ms, WebSocket %.1f ms", i+1, c.Repeat, ms(h.elapsed), ms(ws.elapsed))
	}
	fill := func(t *CatchupTiming, d []time.Duration) {
		slices.Sort(d)
		t.Runs = len(d)
		t.MinMs, t.MaxMs = ms(d[0]), ms(d[len(d)-1])
		t.MedianMs = ms(median(d))
	}
	fill(&res.HTTP, httpT)
	fill(&res.WS, wsT)
	slices.Sort(dialT)
	res.WS.DialMedianMs = ms(median(dialT))
	return res, nil
}

// roomHead returns the head of room as user sees it (GET /v1/rooms).
func (r *runner) roomHead(ctx context.Context, user, room string) (int64, error) {
	body, err := doJSON(ctx, r.hc, http.MethodGet, r.t.HTTP+"/v1/rooms", user, nil)
	if err != nil {
		return 0, err
	}
	var out struct {
		Rooms []struct {
			ID   string `json:"chatroomId"`
			Head int64  `json:"head"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, fmt.Errorf("GET /v1/rooms: %w", err)
	}
	for _, rm := range out.Rooms {
		if rm.ID == room {
			return rm.Head, nil
		}
	}
	return 0, fmt.Errorf("GET /v1/rooms: %s is not among %s's rooms", room, user)
}

// median of sorted d.
func median(d []time.Duration) time.Duration {
	n := len(d)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

type catchupRun struct {
	elapsed, dial time.Duration
	check         indexCheck
	requests      int
	bytes         int64
}

// httpCatchup reads the whole missed range as a client would: the first
// page of every room from GET /v1/sync with its own cursor (room:0), then
// the rest of the room with GET /v1/rooms/{room}/messages?after=.
func (r *runner) httpCatchup(ctx context.Context, user, room string, head int64) (catchupRun, error) {
	var run catchupRun
	run.check = newIndexCheck()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var f frame
	eachMessage := func(val []byte) error {
		if err := parseFrame(val, &f); err != nil {
			return err
		}
		run.check.add(f.Index)
		return nil
	}
	start := time.Now()
	u := r.t.HTTP + "/v1/sync?after=" + url.QueryEscape(room+":0") + "&limit=" + strconv.Itoa(catchupPageLimit)
	body, err := doJSON(ctx, r.hc, http.MethodGet, u, user, nil)
	if err != nil {
		return run, err
	}
	run.requests++
	run.bytes += int64(len(body))
	found, complete, next := false, false, int64(0)
	err = eachField(body, func(key, val []byte) error {
		if string(key) != "rooms" {
			return nil
		}
		return eachElem(val, func(rv []byte) error {
			var thisRoom bool
			var msgs []byte
			var comp bool
			var nx int64
			err := eachField(rv, func(k, v []byte) error {
				var err error
				switch string(k) {
				case "chatroomId":
					var s []byte
					s, err = strVal(v)
					thisRoom = string(s) == room
				case "messages":
					msgs = v
				case "complete":
					comp, err = boolVal(v)
				case "next":
					nx, err = intVal(v)
				}
				return err
			})
			if err != nil || !thisRoom {
				return err
			}
			found, complete, next = true, comp, nx
			return eachElem(msgs, eachMessage)
		})
	})
	if err != nil {
		return run, fmt.Errorf("GET /v1/sync: %w", err)
	}
	if !found {
		return run, fmt.Errorf("GET /v1/sync: room %s missing from the answer", room)
	}
	maxPages := int(head/catchupPageLimit) + 3
	for page := 0; !complete; page++ {
		if page > maxPages {
			return run, fmt.Errorf("history of %s: more than %d pages for %d messages", room, maxPages, head)
		}
		u := r.t.HTTP + "/v1/rooms/" + url.PathEscape(room) + "/messages?after=" + strconv.FormatInt(next, 10) + "&limit=" + strconv.Itoa(catchupPageLimit)
		body, err := doJSON(ctx, r.hc, http.MethodGet, u, user, nil)
		if err != nil {
			return run, err
		}
		run.requests++
		run.bytes += int64(len(body))
		hasMore, nx := false, int64(0)
		err = eachField(body, func(k, v []byte) error {
			var err error
			switch string(k) {
			case "messages":
				err = eachElem(v, eachMessage)
			case "hasMore":
				hasMore, err = boolVal(v)
			case "next":
				nx, err = intVal(v)
			}
			return err
		})
		if err != nil {
			return run, fmt.Errorf("GET %s: %w", u, err)
		}
		if hasMore && nx <= next {
			return run, fmt.Errorf("GET %s: next %d does not advance", u, nx)
		}
		complete, next = !hasMore, nx
	}
	run.elapsed = time.Since(start)
	run.check.finish(head)
	return run, nil
}

// wsCatchup connects as user and times the sync action, from sending
// {"action":"sync","cursors":{room:0}} to the room's complete synced frame.
// One sync pushes a bounded number of messages; a synced frame with
// complete:false and next N is followed by another sync from N, as a
// client would.
func (r *runner) wsCatchup(ctx context.Context, user, room string, head int64) (catchupRun, error) {
	var run catchupRun
	run.check = newIndexCheck()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	t0 := time.Now()
	ws, err := dialWS(ctx, r.dc, r.t, user)
	if err != nil {
		return run, err
	}
	defer ws.CloseNow()
	run.dial = time.Since(t0)
	req := []byte(`{"action":"sync","cursors":{"` + room + `":0}}`)
	start := time.Now()
	if err := ws.Write(ctx, websocket.MessageText, req); err != nil {
		return run, fmt.Errorf("sync: %w", err)
	}
	run.requests = 1
	buf := make([]byte, 0, 1024)
	var f frame
	for frames := int64(0); ; frames++ {
		if frames > head+16 {
			return run, fmt.Errorf("sync of %s: more than %d frames without synced", room, head+16)
		}
		_, rd, err := ws.Reader(ctx)
		if err == nil {
			buf, err = readAll(buf[:0], rd)
		}
		if err != nil {
			return run, fmt.Errorf("sync of %s: read: %w", room, err)
		}
		run.bytes += int64(len(buf))
		if err := parseFrame(buf, &f); err != nil {
			return run, fmt.Errorf("sync of %s: %w", room, err)
		}
		switch string(f.Type) {
		case "message":
			if string(f.Room) == room {
				run.check.add(f.Index)
			}
		case "messages": // a batch of the sync
			if string(f.Room) == room {
				var m frame
				if err := eachElem(f.Messages, func(val []byte) error {
					if err := parseFrame(val, &m); err != nil {
						return err
					}
					run.check.add(m.Index)
					return nil
				}); err != nil {
					return run, fmt.Errorf("sync of %s: %w", room, err)
				}
			}
		case "synced":
			if string(f.Room) == room {
				if f.Head != head {
					return run, fmt.Errorf("sync of %s: synced at head %d, want %d", room, f.Head, head)
				}
				if !f.Complete {
					next := []byte(`{"action":"sync","cursors":{"` + room + `":` + strconv.FormatInt(f.Next, 10) + `}}`)
					if err := ws.Write(ctx, websocket.MessageText, next); err != nil {
						return run, fmt.Errorf("sync: %w", err)
					}
					run.requests++
					continue
				}
				run.elapsed = time.Since(start)
				run.check.finish(head)
				return run, nil
			}
		case "error":
			return run, errors.New("sync: error frame: " + string(f.Code) + ": " + string(f.Message))
		}
	}
}

// readAll reads r to EOF into buf, reusing its capacity.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

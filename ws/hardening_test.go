package ws_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/ws"
)

// bucket is a Limiter with a fixed number of tokens per connection.
type bucket struct {
	mu    sync.Mutex
	left  int
	asked int
}

func (b *bucket) Allow(string, ws.Budget) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked++
	if b.left == 0 {
		return false, time.Second
	}
	b.left--
	return true, 0
}

// TestUndecodableFramesTakeATokenToo: junk costs a token like any frame,
// and once the bucket is empty junk is refused without being decoded.
func TestUndecodableFramesTakeATokenToo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	lim := &bucket{left: 3}
	f.svc.Limiter = lim
	c := f.connect(t, "c1", "uuid1")
	junk := []string{
		strings.Repeat("x", 30<<10), // not JSON
		`{"action":`,                // truncated
		`{"action":"ping","pad":"` + strings.Repeat("y", tripsense.MaxFrameBytes) + `"}`, // too large
		`[1,2]`,
	}
	for _, j := range junk {
		f.send(t, c, j)
	}
	frames := f.rec.take("c1")
	if len(frames) != len(junk) || lim.asked != len(junk) {
		t.Fatalf("%d answers, %d tokens asked for %d junk frames", len(frames), lim.asked, len(junk))
	}
	for i, fr := range frames[:3] {
		if fr["code"] == tripsense.ERATELIMITED {
			t.Fatalf("junk frame %d refused with tokens left: %v", i, fr)
		}
	}
	if frames[3]["code"] != tripsense.ERATELIMITED {
		t.Fatalf("junk frame with an empty bucket answered %v, want rate_limited", frames[3])
	}
	// A refused decodable frame still echoes what identifies it.
	f.send(t, c, `{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"x","messageType":"t","clientMsgId":"r-9"}`)
	e := onlyFrame(t, f.rec.take("c1"), "error")
	if e["code"] != tripsense.ERATELIMITED || e["action"] != "sendMessage" || e["clientMsgId"] != "r-9" {
		t.Fatalf("refused send answered %v", e)
	}
	if h, _ := f.store.Head(context.Background(), "uuidroom1"); h != 0 {
		t.Fatalf("a refused send was stored (head %d)", h)
	}
}

// TestFramesAreDecodedExactly: what encoding/json would let through
// silently (another letter case, a repeated member, bytes that are not
// UTF-8, as a binary message may carry) is refused and stores nothing.
func TestFramesAreDecodedExactly(t *testing.T) {
	t.Parallel()
	for name, frame := range map[string]string{
		"member in another case": `{"action":"sendMessage","chatroomId":"uuidroom1","ChatMessage":"x","messageType":"t"}`,
		"action in another case": `{"Action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"x","messageType":"t"}`,
		"repeated member":        `{"action":"sendMessage","chatroomId":"uuidroom3","chatroomId":"uuidroom1","chatMessage":"x","messageType":"t"}`,
		"repeated cursor":        `{"action":"sync","cursors":{"uuidroom1":0,"uuidroom1":5}}`,
		"invalid UTF-8":          "{\"action\":\"sendMessage\",\"chatroomId\":\"uuidroom1\",\"chatMessage\":\"a\xffb\",\"messageType\":\"t\"}",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, ws.Replace)
			c := f.connect(t, "c1", "uuid1")
			f.send(t, c, frame)
			e := onlyFrame(t, f.rec.take("c1"), "error")
			if e["code"] != tripsense.EINVALID {
				t.Fatalf("answered %v, want bad_request", e)
			}
			if h, _ := f.store.Head(context.Background(), "uuidroom1"); h != 0 {
				t.Fatalf("stored (head %d)", h)
			}
		})
	}
}

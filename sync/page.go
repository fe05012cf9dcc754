package catchup

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/tripsense/tripsense"
)

// DefaultMaxAnswerBytes bounds the JSON of the messages of one answer: one
// Sync over all its rooms, or one History page. A page that reaches it ends
// early (Complete false, HasMore true, with the right Next); the first
// message of an answer is always included, so paging always progresses
// (one message's JSON is at most about 97 KiB, far below the bound).
//
// 1 MiB is about 5000 small messages (the message bound of a Sync), or 31
// messages of 16 KiB that escape to twice their size. A full answer takes
// 8.4 s on a 1 Mbit/s link; see docs/api.md.
const DefaultMaxAnswerBytes = 1 << 20

// readChunk is how many messages a page reads from the store per call, so
// that an answer in flight holds at most this many messages read ahead,
// whatever its limit: at most 64 x ~16.7 KiB = ~1.05 MiB with bodies at
// MaxChatMessageBytes.
const readChunk = 64

// maxAnswerBytes returns s.MaxAnswerBytes or its default.
func (s *Service) maxAnswerBytes() int {
	if s.MaxAnswerBytes > 0 {
		return s.MaxAnswerBytes
	}
	return DefaultMaxAnswerBytes
}

// budget is what the rest of one answer may hold.
type budget struct {
	msgs  int  // messages
	bytes int  // bytes of message JSON
	any   bool // the answer holds a message already
}

// take reports whether a message whose JSON is size bytes fits, and counts
// it if so. The first message of an answer always fits.
func (b *budget) take(size int) bool {
	if b.msgs <= 0 || (b.any && size > b.bytes) {
		return false
	}
	b.msgs--
	b.bytes -= size
	b.any = true
	return true
}

// emitFunc receives each message of a page in order, with its JSON (valid
// until the next call).
type emitFunc func(m *tripsense.Message, enc []byte) error

// reader reads the pages of one answer: chunk by chunk from the store,
// measuring each message's JSON against the answer's budget.
type reader struct {
	store   Store
	b       budget
	scratch *[]byte // the JSON of the message at hand (pooled)
	// state makes a history reader: only messages, in their current state
	// (AppendStateJSON); events are skipped without counting.
	state bool
}

// maxSkipped bounds the events one history page passes over (they cost a
// read each but are not shown): a page that meets more ends early with
// HasMore, so a room full of reactions cannot make one page scan it all.
const maxSkipped = 4096

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooledScratch keeps buffers grown by a rare huge message out of the pool.
const maxPooledScratch = 128 << 10

func (s *Service) newReader(msgs int) *reader {
	return &reader{store: s.Store, b: budget{msgs: msgs, bytes: s.maxAnswerBytes()}, scratch: scratchPool.Get().(*[]byte)}
}

// free returns the reader's buffer; the reader must not be used after.
func (r *reader) free() {
	if cap(*r.scratch) <= maxPooledScratch {
		*r.scratch = (*r.scratch)[:0]
		scratchPool.Put(r.scratch)
	}
	r.scratch = nil
}

// encode returns the JSON of m in the reader's scratch buffer.
func (r *reader) encode(m *tripsense.Message) []byte {
	if r.state {
		*r.scratch = m.AppendStateJSON((*r.scratch)[:0])
	} else {
		*r.scratch = m.AppendJSON((*r.scratch)[:0], "")
	}
	return *r.scratch
}

// ascend hands emit the messages of room with after < index <= head in
// index order, at most limit and while the budget lasts, and returns the
// index of the last one (after when none). Messages above head (appended
// after head was read) belong to a later range and end the page, so a page
// never contradicts its head; so does a store answer that does not move
// forward, so the loop always ends.
func (r *reader) ascend(ctx context.Context, room string, after, head int64, limit int, emit emitFunc) (int64, error) {
	last := after
	skipped := 0
	for n := 0; n < limit && last < head && skipped < maxSkipped; {
		want := int(min(int64(min(limit-n, readChunk, r.b.msgs)), head-last))
		if want <= 0 {
			break
		}
		msgs, err := r.store.MessagesAfter(ctx, room, last, want)
		if err != nil {
			return last, fmt.Errorf("catchup: messages of %s after %d: %w", room, last, err)
		}
		if len(msgs) == 0 {
			break
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Index > head || m.Index <= last {
				return last, nil
			}
			if r.state && !m.IsMessage() {
				last = m.Index
				if skipped++; skipped >= maxSkipped {
					return last, nil
				}
				continue
			}
			enc := r.encode(m)
			if !r.b.take(len(enc)) {
				return last, nil
			}
			if err := emit(m, enc); err != nil {
				return last, err
			}
			last = m.Index
			n++
		}
	}
	return last, nil
}

// descend returns the newest messages of room with index < before, at most
// limit and while the budget lasts, in ascending order: an older page, and
// the index the next older page continues before (the lowest index read;
// events a history reader skips count as read). It keeps the page (at most
// the answer's byte bound of JSON) because the page is written oldest first
// but read newest first.
func (r *reader) descend(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, int64, error) {
	var page []tripsense.Message // newest first
	skipped := 0
	for len(page) < limit && before > 1 && skipped < maxSkipped {
		want := min(limit-len(page), readChunk, r.b.msgs)
		if want <= 0 {
			break
		}
		msgs, err := r.store.MessagesBefore(ctx, room, before, want)
		if err != nil {
			return nil, 0, fmt.Errorf("catchup: messages of %s before %d: %w", room, before, err)
		}
		if len(msgs) == 0 {
			before = 1 // nothing below: the page reached the start
			break
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			m := &msgs[i]
			if m.Index >= before {
				slices.Reverse(page)
				return page, before, nil
			}
			if r.state && !m.IsMessage() {
				before = m.Index
				if skipped++; skipped >= maxSkipped {
					break
				}
				continue
			}
			if !r.b.take(len(r.encode(m))) {
				slices.Reverse(page)
				return page, before, nil
			}
			page = append(page, *m)
			before = m.Index
		}
	}
	slices.Reverse(page)
	return page, before, nil
}

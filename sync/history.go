package catchup

import (
	"context"
	"fmt"
	"io"

	"github.com/tripsense/tripsense"
)

// HistoryPage is one page of a room's messages, in ascending index order.
//
// For an ascending page (after=N), HasMore is true when messages above the
// page's last index exist up to Head, and Next is that last index: ask
// again with after=Next. For an older page (before=N), HasMore is true when
// messages below the page's first index exist, and Next is that first
// index: ask again with before=Next. Next is 0 and left out of the JSON
// when HasMore is false.
type HistoryPage struct {
	Room     string
	Head     int64
	Messages []tripsense.Message
	HasMore  bool
	Next     int64
	// Truncated says the page reached the retention edge: the entries
	// below Oldest are gone (an ascending page from below it starts at
	// Oldest; an older page ends there with HasMore false).
	Truncated bool
	Oldest    int64
}

// History returns one page of at most limit messages (0 means
// tripsense.DefaultPageLimit) of room, for a member user, and at most
// Service.MaxAnswerBytes bytes of message JSON (the first message always
// fits; a page the bound cut short has HasMore true and the right Next).
//
// With before == 0 it is the ascending page of messages with index > after.
// With before > 0 it is the older page: the newest messages with index <
// before (a before past the head means "from the newest"), still returned
// in ascending order, for scrolling back. after and before are exclusive.
// Errors: EINVALID (bad ids, negative or combined after/before, bad limit),
// ENOTMEMBER (whether or not the room exists).
//
// History holds the page; WriteHistory streams the same page.
func (s *Service) History(ctx context.Context, user, room string, after, before int64, limit int) (HistoryPage, error) {
	var c collectHistory
	if err := s.history(ctx, user, room, after, before, limit, &c); err != nil {
		return HistoryPage{}, err
	}
	return c.p, nil
}

// WriteHistory writes the JSON of the History page, HistoryPage and a
// newline, to w. An ascending page is written as it is read (at most one
// chunk of messages read ahead and a 32 KiB buffer); an older page is read
// newest first, so it is held (at most the byte bound) and then written.
// Errors come as WriteSync's do: the request's and the planning's before
// anything is written to w, a store failure before anything is written
// unless the page already passed 32 KiB.
func (s *Service) WriteHistory(ctx context.Context, w io.Writer, user, room string, after, before int64, limit int) error {
	j := newJSONWriter(w)
	defer j.free()
	if err := s.history(ctx, user, room, after, before, limit, &streamHistory{j: j}); err != nil {
		return err
	}
	j.buf = append(j.buf, '\n')
	return j.flush()
}

// historySink receives a page as it is read.
type historySink interface {
	begin(room string, head int64) error
	message(m *tripsense.Message, enc []byte) error
	end(hasMore bool, next int64, truncated bool, oldest int64) error
}

func (s *Service) history(ctx context.Context, user, room string, after, before int64, limit int, sk historySink) error {
	limit, err := pageLimit(limit)
	if err != nil {
		return err
	}
	switch {
	case after < 0:
		return tripsense.Errorf(tripsense.EINVALID, "after must be a non-negative integer")
	case before < 0:
		return tripsense.Errorf(tripsense.EINVALID, "before must be a positive integer")
	case after > 0 && before > 0:
		return tripsense.Errorf(tripsense.EINVALID, "after and before cannot be combined")
	}
	if err := s.member(ctx, "history", user, room); err != nil {
		return err
	}
	head, err := s.Store.Head(ctx, room)
	if err != nil {
		return fmt.Errorf("catchup: history: head of %s: %w", room, err)
	}
	oldest, err := s.Store.Oldest(ctx, room)
	if err != nil {
		return fmt.Errorf("catchup: history: oldest of %s: %w", room, err)
	}
	r := s.newReader(limit)
	defer r.free()
	// History is the log folded into current state: messages only, each as
	// it is now; events are skipped (they are already applied).
	r.state = true
	if err := sk.begin(room, head); err != nil {
		return err
	}
	if before > 0 {
		page, next, err := r.descend(ctx, room, min(before, head+1), limit)
		if err != nil {
			return err
		}
		for i := range page {
			if err := sk.message(&page[i], r.encode(&page[i])); err != nil {
				return err
			}
		}
		if next > oldest {
			return sk.end(true, next, false, 0)
		}
		return sk.end(false, 0, oldest > 1, oldest)
	}
	truncated := after < oldest-1
	if truncated {
		after = min(oldest-1, head)
	}
	last, err := r.ascend(ctx, room, after, head, limit, sk.message)
	if err != nil {
		return err
	}
	if last < head {
		return sk.end(true, last, truncated, oldest)
	}
	return sk.end(false, 0, truncated, oldest)
}

// collectHistory keeps the page as a HistoryPage.
type collectHistory struct{ p HistoryPage }

func (c *collectHistory) begin(room string, head int64) error {
	c.p = HistoryPage{Room: room, Head: head}
	return nil
}

func (c *collectHistory) message(m *tripsense.Message, _ []byte) error {
	c.p.Messages = append(c.p.Messages, *m)
	return nil
}

func (c *collectHistory) end(hasMore bool, next int64, truncated bool, oldest int64) error {
	c.p.HasMore, c.p.Next = hasMore, next
	if truncated {
		c.p.Truncated, c.p.Oldest = true, oldest
	}
	return nil
}

// streamHistory writes the page's JSON as it comes.
type streamHistory struct {
	j    *jsonWriter
	msgs int
}

func (st *streamHistory) begin(room string, head int64) error {
	st.j.buf = appendHistoryHead(st.j.buf, room, head)
	return nil
}

func (st *streamHistory) message(_ *tripsense.Message, enc []byte) error {
	if st.msgs > 0 {
		st.j.buf = append(st.j.buf, ',')
	}
	st.msgs++
	return st.j.write(enc)
}

func (st *streamHistory) end(hasMore bool, next int64, truncated bool, oldest int64) error {
	st.j.buf = appendHistoryTail(st.j.buf, hasMore, next)
	st.j.buf = appendTruncatedEnd(st.j.buf, truncated, oldest)
	return st.j.err
}

package catchup

import (
	"context"
	"fmt"

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
}

// History returns one page of at most limit messages (0 means
// tripsense.DefaultPageLimit) of room, for a member user.
//
// With before == 0 it is the ascending page of messages with index > after.
// With before > 0 it is the older page: the newest messages with index <
// before (a before past the head means "from the newest"), still returned
// in ascending order, for scrolling back. after and before are exclusive.
// Errors: EINVALID (bad ids, negative or combined after/before, bad limit),
// ENOTMEMBER (whether or not the room exists).
func (s *Service) History(ctx context.Context, user, room string, after, before int64, limit int) (HistoryPage, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return HistoryPage{}, err
	}
	switch {
	case after < 0:
		return HistoryPage{}, tripsense.Errorf(tripsense.EINVALID, "after must be a non-negative integer")
	case before < 0:
		return HistoryPage{}, tripsense.Errorf(tripsense.EINVALID, "before must be a positive integer")
	case after > 0 && before > 0:
		return HistoryPage{}, tripsense.Errorf(tripsense.EINVALID, "after and before cannot be combined")
	}
	if err := s.member(ctx, "history", user, room); err != nil {
		return HistoryPage{}, err
	}
	head, err := s.Store.Head(ctx, room)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("catchup: history: head of %s: %w", room, err)
	}
	p := HistoryPage{Room: room, Head: head}
	if before > 0 {
		msgs, err := s.Store.MessagesBefore(ctx, room, min(before, head+1), limit)
		if err != nil {
			return HistoryPage{}, fmt.Errorf("catchup: history: messages of %s before %d: %w", room, before, err)
		}
		p.Messages = msgs
		if len(msgs) > 0 && msgs[0].Index > 1 {
			p.HasMore, p.Next = true, msgs[0].Index
		}
		return p, nil
	}
	msgs, err := s.page(ctx, room, after, head, limit)
	if err != nil {
		return HistoryPage{}, err
	}
	p.Messages = msgs
	last := after
	if len(msgs) > 0 {
		last = msgs[len(msgs)-1].Index
	}
	if last < head {
		p.HasMore, p.Next = true, last
	}
	return p, nil
}

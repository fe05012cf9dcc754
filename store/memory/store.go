package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/tripsense/tripsense"
)

var _ tripsense.Store = (*Store)(nil)

// Store is an in-memory tripsense.Store. It is safe for concurrent use.
// The zero value is not usable; call New.
type Store struct {
	now func() time.Time // clock for dedupe records and cursor updates

	mu       sync.RWMutex
	rooms    map[string][]tripsense.Message // room -> entries; index i+1 at [i] (zero below oldest)
	oldest   map[string]int64               // room -> lowest kept index, when retention removed some
	dedupe   map[dedupeKey]dedupeRecord
	dedupeQ  []dedupeEntry                  // dedupe keys in insertion order, for pruning
	members  map[string]map[string]struct{} // room -> users (roomUser)
	userRoom map[string]map[string]struct{} // user -> rooms (userRoom)
	cursors  map[string]map[string]tripsense.Cursor
	reads    map[string]map[string]tripsense.ReadCursor // user -> room -> read cursor
	info     map[string]tripsense.RoomInfo              // room metadata (rooms.go)
	outbox   []tripsense.OutboxEntry                    // pending and failed, by seq (rooms.go)
	seq      uint64
	epoch    string
	// Outbox makes every append record an outbox entry (set before use).
	Outbox bool
}

type dedupeKey struct{ room, user, clientMsgID string }

type dedupeRecord struct {
	index int64
	at    time.Time
}

type dedupeEntry struct {
	key dedupeKey
	at  time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{
		now:      time.Now,
		rooms:    make(map[string][]tripsense.Message),
		oldest:   make(map[string]int64),
		dedupe:   make(map[dedupeKey]dedupeRecord),
		members:  make(map[string]map[string]struct{}),
		userRoom: make(map[string]map[string]struct{}),
		cursors:  make(map[string]map[string]tripsense.Cursor),
		reads:    make(map[string]map[string]tripsense.ReadCursor),
		epoch:    newEpoch(),
	}
}

// Epoch is the store's epoch: random, made by New. An in-memory store's
// data lives as long as the store, so each store is its own epoch (as a
// restored bbolt or DynamoDB store is a new one).
func (s *Store) Epoch() string { return s.epoch }

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close releases nothing; the data stays readable (an in-memory store has
// nothing to flush).
func (s *Store) Close() error { return nil }

// Append stores m with the room's next index. A retry with the same (Room,
// UserID, ClientMsgID) within tripsense.DedupeTTL returns the original
// message with duplicate true. A zero CreateTime is set to now; CreateTime
// is kept at millisecond precision in UTC, like the durable stores.
func (s *Store) Append(ctx context.Context, m tripsense.NewMessage) (tripsense.Message, bool, error) {
	if err := ctx.Err(); err != nil {
		return tripsense.Message{}, false, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneDedupe(now)
	key := dedupeKey{m.Room, m.UserID, m.ClientMsgID}
	if m.ClientMsgID != "" {
		if rec, ok := s.dedupe[key]; ok {
			if orig := s.rooms[m.Room][rec.index-1]; orig.Index != 0 {
				return orig, true, nil
			}
			// Retention removed the original: say which index it had.
			return tripsense.Message{Room: m.Room, Index: rec.index, UserID: m.UserID, ClientMsgID: m.ClientMsgID, Kind: m.Kind}, true, nil
		}
	}
	ct := m.CreateTime
	if ct.IsZero() {
		ct = now
	}
	msgs := s.rooms[m.Room]
	msg := tripsense.Message{
		Room:        m.Room,
		Index:       int64(len(msgs)) + 1,
		UserID:      m.UserID,
		Body:        m.Body,
		Type:        m.Type,
		CreateTime:  ct.UTC().Truncate(time.Millisecond),
		ClientMsgID: m.ClientMsgID,
		Kind:        m.Kind,
		Target:      m.Target,
		ReplyTo:     m.ReplyTo,
		Reaction:    m.Reaction,
		Remove:      m.Remove,
	}
	if m.ReplyTo > 0 {
		if err := tripsense.CheckReply(s.entry(m.Room, m.ReplyTo)); err != nil {
			return tripsense.Message{}, false, err
		}
	}
	if m.Kind != "" && !tripsense.IsRoomKind(m.Kind) {
		// Decide and apply on a copy: readers may hold the stored one.
		var target *tripsense.Message
		if t := s.entry(m.Room, m.Target); t != nil {
			c := cloneMessage(*t)
			target = &c
		}
		if err := tripsense.ApplyEvent(target, &m, msg.Index, msg.CreateTime); err != nil {
			return tripsense.Message{}, false, err
		}
		if target.Deleted {
			for _, e := range target.Edits {
				if ed := s.entry(m.Room, e); ed != nil {
					c := *ed
					if tripsense.Redact(&c) {
						msgs[e-1] = c
					}
				}
			}
		}
		msgs[m.Target-1] = *target
	}
	s.rooms[m.Room] = append(msgs, msg)
	if s.Outbox {
		s.seq++
		s.outbox = append(s.outbox, tripsense.OutboxEntry{Seq: s.seq, Room: m.Room, Index: msg.Index, CreatedAt: now, NextAt: now})
	}
	if m.ClientMsgID != "" {
		s.dedupe[key] = dedupeRecord{index: msg.Index, at: now}
		s.dedupeQ = append(s.dedupeQ, dedupeEntry{key: key, at: now})
	}
	return msg, false, nil
}

// entry returns the stored entry index of room, nil when there is none
// (out of range, or removed by retention). s.mu is held.
func (s *Store) entry(room string, index int64) *tripsense.Message {
	msgs := s.rooms[room]
	if index < 1 || index > int64(len(msgs)) || msgs[index-1].Index == 0 {
		return nil
	}
	return &msgs[index-1]
}

// cloneMessage copies m with its own slices, so applying an event to the
// copy never changes what a reader holds.
func cloneMessage(m tripsense.Message) tripsense.Message {
	m.Reactions = slices.Clone(m.Reactions)
	m.Edits = slices.Clone(m.Edits)
	return m
}

// pruneDedupe forgets dedupe records older than DedupeTTL. s.mu is held.
func (s *Store) pruneDedupe(now time.Time) {
	n := 0
	for n < len(s.dedupeQ) && now.Sub(s.dedupeQ[n].at) >= tripsense.DedupeTTL {
		e := s.dedupeQ[n]
		if rec, ok := s.dedupe[e.key]; ok && rec.at.Equal(e.at) {
			delete(s.dedupe, e.key)
		}
		n++
	}
	if n > 0 {
		s.dedupeQ = append(s.dedupeQ[:0], s.dedupeQ[n:]...)
	}
}

// MessagesAfter returns up to limit messages of room with index > after, in
// ascending order.
func (s *Store) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]tripsense.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	msgs := s.rooms[room]
	if limit <= 0 || after >= int64(len(msgs)) {
		return nil, nil
	}
	lo := max(after, s.oldest[room]-1, 0)
	hi := min(lo+int64(limit), int64(len(msgs)))
	if lo >= hi {
		return nil, nil
	}
	return append([]tripsense.Message(nil), msgs[lo:hi]...), nil
}

// MessagesBefore returns up to limit messages of room with index < before
// (the newest ones below it), in ascending order.
func (s *Store) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]tripsense.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	msgs := s.rooms[room]
	hi := min(before-1, int64(len(msgs))) // highest index returned
	if limit <= 0 || hi < 1 {
		return nil, nil
	}
	lo := max(hi-int64(limit), s.oldest[room]-1, 0)
	if lo >= hi {
		return nil, nil
	}
	return append([]tripsense.Message(nil), msgs[lo:hi]...), nil
}

// Head returns the highest index of room, 0 when it has no messages.
func (s *Store) Head(ctx context.Context, room string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.rooms[room])), nil
}

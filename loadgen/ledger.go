package loadgen

import (
	"math/bits"
	"sync"
)

// Loss and duplicate accounting.
//
// Every room keeps, per index, which sender's acknowledgement named it
// (roomLedger). Every receiving connection keeps a bitset of the indexes
// it received in its room (recvLedger), touched only by its own reader
// goroutine. After the run, every acknowledged (room, index) is expected
// once at every connection of the room except the sender's: a missing bit
// is a lost delivery, a bit set twice a duplicate. A message the server
// stored but never acknowledged (in flight when the run stopped) is not
// expected anywhere and is reported as unacked.

// roomLedger records the acknowledgements of one room. Safe for concurrent use.
type roomLedger struct {
	mu       sync.Mutex
	senderOf []int32 // index -> sender+1; 0 when not acknowledged
	acks     int64
	dupAcks  int64 // an index acknowledged twice (to different sends)
}

// acked records that index was acknowledged to sender.
func (l *roomLedger) acked(index int64, sender int) {
	if index <= 0 || index > 1<<31 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for int64(len(l.senderOf)) <= index {
		l.senderOf = append(l.senderOf, make([]int32, max(len(l.senderOf), 256))...)
	}
	if l.senderOf[index] != 0 {
		l.dupAcks++
		return
	}
	l.senderOf[index] = int32(sender) + 1
	l.acks++
}

// bitset is a growable set of non-negative integers.
type bitset []uint64

func (b *bitset) set(i int64) (already bool) {
	w := int(i >> 6)
	if w >= len(*b) {
		n := max(2*len(*b), w+1, 16)
		nb := make([]uint64, n)
		copy(nb, *b)
		*b = nb
	}
	m := uint64(1) << uint(i&63)
	already = (*b)[w]&m != 0
	(*b)[w] |= m
	return already
}

func (b bitset) has(i int64) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(uint64(1)<<uint(i&63)) != 0
}

// recvLedger is what one connection received in its room. Only its reader
// goroutine writes it; it is read after the reader stopped.
type recvLedger struct {
	got       bitset
	delivered int64 // message frames for its room, duplicates included
	dups      int64
	foreign   int64 // message frames for another room, or its own messages echoed back
	bad       int64 // message frames whose chatMessage is not a bench stamp
}

// record notes that index arrived; it reports a duplicate.
func (r *recvLedger) record(index int64) (dup bool) {
	r.delivered++
	if index <= 0 || index > 1<<31 {
		r.bad++
		return false
	}
	if r.got.set(index) {
		r.dups++
		return true
	}
	return false
}

// Loss is the outcome of the accounting.
type Loss struct {
	// Expected deliveries: acknowledged messages times the other connections of their room.
	Expected int64 `json:"expectedDeliveries"`
	// Lost deliveries: expected (room, index, receiver) never received.
	LostDeliveries int64 `json:"lostDeliveries"`
	// Lost messages: acknowledged (room, index) that at least one receiver lacks.
	LostMessages int64 `json:"lostMessages"`
	// Dups: deliveries received more than once by the same receiver.
	Dups int64 `json:"duplicates"`
	// DupAcks: an index acknowledged for two different sends.
	DupAcks int64 `json:"duplicateAcks"`
	// Foreign: deliveries of another room's message, or of a receiver's own message.
	Foreign int64 `json:"foreign"`
	// Unacked: deliveries of messages never acknowledged to their sender in time.
	Unacked int64 `json:"unackedDeliveries"`
	// Bad: message frames that were not bench messages.
	Bad int64 `json:"badFrames"`
}

// OK reports whether nothing was lost, duplicated or misrouted.
func (l Loss) OK() bool {
	return l.LostDeliveries == 0 && l.Dups == 0 && l.DupAcks == 0 && l.Foreign == 0 && l.Bad == 0
}

// roomMember is one connection of a room for the accounting.
type roomMember struct {
	sender int // the connection's sender number, or -1 when it does not send
	recv   *recvLedger
}

// account compares what was acknowledged in a room with what each member
// received. It runs after all readers stopped.
func account(room *roomLedger, members []roomMember) Loss {
	var l Loss
	room.mu.Lock()
	defer room.mu.Unlock()
	l.DupAcks = room.dupAcks
	lostMsg := make(map[int64]struct{})
	for _, m := range members {
		l.Dups += m.recv.dups
		l.Foreign += m.recv.foreign
		l.Bad += m.recv.bad
		for idx := int64(1); idx < int64(len(room.senderOf)); idx++ {
			s := room.senderOf[idx]
			if s == 0 {
				continue
			}
			if int(s-1) == m.sender {
				continue // the server does not echo a message to its sender's connection
			}
			l.Expected++
			if !m.recv.got.has(idx) {
				l.LostDeliveries++
				lostMsg[idx] = struct{}{}
			}
		}
		// Deliveries of indexes nobody acknowledged (sends cut off at the end).
		for w, word := range m.recv.got {
			for word != 0 {
				bit := int64(w)*64 + int64(bits.TrailingZeros64(word))
				word &= word - 1
				if bit >= int64(len(room.senderOf)) || room.senderOf[bit] == 0 {
					l.Unacked++
				}
			}
		}
	}
	l.LostMessages = int64(len(lostMsg))
	return l
}

// add sums two outcomes.
func (l Loss) add(o Loss) Loss {
	return Loss{
		Expected:       l.Expected + o.Expected,
		LostDeliveries: l.LostDeliveries + o.LostDeliveries,
		LostMessages:   l.LostMessages + o.LostMessages,
		Dups:           l.Dups + o.Dups,
		DupAcks:        l.DupAcks + o.DupAcks,
		Foreign:        l.Foreign + o.Foreign,
		Unacked:        l.Unacked + o.Unacked,
		Bad:            l.Bad + o.Bad,
	}
}

package loadgen

import "testing"

// room: sender 0 is connection A, sender 1 is connection B, C only receives.
func TestAccountLossAndDuplicates(t *testing.T) {
	t.Parallel()
	var room roomLedger
	for i := int64(1); i <= 10; i++ {
		room.acked(i, int(i%2)) // odd indexes by sender 1, even by sender 0
	}
	var a, b, c recvLedger
	for i := int64(1); i <= 10; i++ {
		if i%2 == 1 {
			a.record(i) // A receives sender 1's messages
		} else {
			b.record(i) // B receives sender 0's messages
		}
		if i != 3 && i != 7 {
			c.record(i) // C misses 3 and 7
		}
	}
	if !c.record(5) {
		t.Fatal("second delivery of 5 not reported as duplicate")
	}
	c.record(11) // stored but never acknowledged
	got := account(&room, []roomMember{{sender: 0, recv: &a}, {sender: 1, recv: &b}, {sender: -1, recv: &c}})
	want := Loss{Expected: 5 + 5 + 10, LostDeliveries: 2, LostMessages: 2, Dups: 1, Unacked: 1}
	if got != want {
		t.Fatalf("account = %+v\nwant       %+v", got, want)
	}
	if got.OK() {
		t.Fatal("a run with losses is not OK")
	}
}

func TestAccountLostMessageCountsOncePerIndex(t *testing.T) {
	t.Parallel()
	var room roomLedger
	room.acked(1, 0)
	room.acked(2, 0)
	var b, c recvLedger
	b.record(1)
	c.record(1)
	got := account(&room, []roomMember{{sender: 0, recv: &recvLedger{}}, {sender: -1, recv: &b}, {sender: -1, recv: &c}})
	if got.LostDeliveries != 2 || got.LostMessages != 1 {
		t.Fatalf("lost = %d deliveries / %d messages, want 2 / 1", got.LostDeliveries, got.LostMessages)
	}
}

func TestAccountCleanRunAndDuplicateAck(t *testing.T) {
	t.Parallel()
	var room roomLedger
	var r recvLedger
	for i := int64(1); i <= 1000; i++ {
		room.acked(i, 0)
		r.record(i)
	}
	got := account(&room, []roomMember{{sender: 0, recv: &recvLedger{}}, {sender: -1, recv: &r}})
	if !got.OK() || got.Expected != 1000 || got.Unacked != 0 {
		t.Fatalf("clean run: %+v", got)
	}
	room.acked(7, 0)
	if got := account(&room, nil); got.DupAcks != 1 || got.OK() {
		t.Fatalf("an index acknowledged twice must be reported: %+v", got)
	}
}

func TestRecvLedgerRejectsBadIndexes(t *testing.T) {
	t.Parallel()
	var r recvLedger
	r.record(0)
	r.record(-3)
	if r.bad != 2 || r.delivered != 2 || len(r.got) != 0 {
		t.Fatalf("ledger = %+v", r)
	}
	var room roomLedger
	room.acked(0, 1)
	room.acked(-1, 1)
	if room.acks != 0 {
		t.Fatal("index <= 0 must not be recorded")
	}
}

func TestSenderSlotGenerations(t *testing.T) {
	t.Parallel()
	s := newSender(0, &bconn{}, 3, 2) // 2 receivers + 1 ack per message
	slot := <-s.free
	s.slots[slot].Store(packSlot(7, s.need))
	if s.release(slot, 6) {
		t.Fatal("an older generation must be ignored")
	}
	s.release(slot, 7)
	s.release(slot, 7)
	if len(s.free) != 1 {
		t.Fatal("slot freed before its last release")
	}
	if !s.release(slot, 7) || len(s.free) != 2 {
		t.Fatal("last release must free the slot")
	}
	if s.release(slot, 7) {
		t.Fatal("a release after the slot was freed must be ignored")
	}
	slot = <-s.free
	s.slots[slot].Store(packSlot(8, s.need))
	s.sentAt[slot].Store(100)
	if n := s.freeStalled(50); n != 0 {
		t.Fatal("a slot younger than the cutoff is not stalled")
	}
	if n := s.freeStalled(101); n != 1 || len(s.free) != 2 {
		t.Fatalf("freeStalled = %d, free = %d", n, len(s.free))
	}
	if s.release(slot, 8) {
		t.Fatal("a late delivery after a forced release must be ignored")
	}
}

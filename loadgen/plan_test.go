package loadgen

import "testing"

func TestPlanRoomsAndSenders(t *testing.T) {
	t.Parallel()
	p := planRooms("b-x", 25, 10, 4)
	if len(p.rooms) != 3 || len(p.members[2]) != 5 {
		t.Fatalf("rooms %v, last room %v", p.rooms, p.members[2])
	}
	// Senders: first member of each room, then the second member of room 0.
	want := []int{0, 10, 20, 1}
	for i, c := range want {
		if p.senders[i] != c || p.senderOf[c] != i {
			t.Fatalf("senders = %v, want %v", p.senders, want)
		}
	}
	if p.users[24] != "b-x-u00025" || p.rooms[0] != "b-x-r0001" || p.roomOf[24] != 2 {
		t.Fatalf("ids: %s %s %d", p.users[24], p.rooms[0], p.roomOf[24])
	}
	for _, u := range p.users {
		if !validID(u) {
			t.Fatalf("invalid id %q", u)
		}
	}
	p.extra = []membership{{Room: p.rooms[0], User: "b-x-reader"}}
	if m := p.memberships(); len(m) != 26 || m[25].User != "b-x-reader" || m[11].Room != "b-x-r0002" {
		t.Fatalf("memberships %v", m)
	}
	all := planRooms("b", 7, 3, 7)
	if len(all.senders) != 7 {
		t.Fatalf("every connection can send: %v", all.senders)
	}
}

package loadgen

import "fmt"

// plan is who is where in a fan-out style run: one user and one connection
// per index, each user in exactly one room, some connections sending.
type plan struct {
	rooms    []string // room ids
	users    []string // connection -> user id
	roomOf   []int    // connection -> room
	members  [][]int  // room -> connections, in order
	senders  []int    // sender -> connection
	senderOf []int    // connection -> sender, -1 when it only receives
	extra    []membership
}

func userID(prefix string, i int) string { return fmt.Sprintf("%s-u%05d", prefix, i+1) }
func roomID(prefix string, r int) string { return fmt.Sprintf("%s-r%04d", prefix, r+1) }

// planRooms puts conns connections into consecutive rooms of roomSize (the
// last room may be smaller) and picks senders round-robin over the rooms:
// the first member of every room, then the second of every room, and so on,
// so senders spread as evenly as the rooms allow.
func planRooms(prefix string, conns, roomSize, senders int) plan {
	nRooms := (conns + roomSize - 1) / roomSize
	p := plan{
		rooms:    make([]string, nRooms),
		users:    make([]string, conns),
		roomOf:   make([]int, conns),
		members:  make([][]int, nRooms),
		senderOf: make([]int, conns),
	}
	for r := range nRooms {
		p.rooms[r] = roomID(prefix, r)
	}
	for i := range conns {
		r := i / roomSize
		p.users[i] = userID(prefix, i)
		p.roomOf[i] = r
		p.members[r] = append(p.members[r], i)
		p.senderOf[i] = -1
	}
	for pos := 0; len(p.senders) < senders && pos < roomSize; pos++ {
		for r := 0; r < nRooms && len(p.senders) < senders; r++ {
			if pos < len(p.members[r]) {
				c := p.members[r][pos]
				p.senderOf[c] = len(p.senders)
				p.senders = append(p.senders, c)
			}
		}
	}
	return p
}

// memberships lists every (room, user) pair the server must know.
func (p *plan) memberships() []membership {
	out := make([]membership, 0, len(p.users)+len(p.extra))
	for i, u := range p.users {
		out = append(out, membership{Room: p.rooms[p.roomOf[i]], User: u})
	}
	return append(out, p.extra...)
}

package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func checkStrings(t *testing.T, call string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", call, got, want)
	}
}

func testMembership(t *testing.T, h *harness) {
	s, _ := h.open(t)
	checkStrings(t, "Rooms(nobody)", MustRooms(t, s, "nobody"), nil)
	checkStrings(t, "Members(nowhere)", MustMembers(t, s, "nowhere"), nil)
	if MustIsMember(t, s, "u1", "r1") {
		t.Fatal("IsMember before AddMember = true")
	}
	// Added out of order, listed sorted; "r" and "r1" are prefixes of others.
	for _, m := range [][2]string{{"r2", "u1"}, {"r1", "u2"}, {"r1", "u1"}, {"r10", "u1"}, {"r", "u1"}, {"r1", "u10"}} {
		MustAddMember(t, s, m[0], m[1])
	}
	MustAddMember(t, s, "r1", "u1") // again: not an error, no duplicate
	checkStrings(t, "Rooms(u1)", MustRooms(t, s, "u1"), []string{"r", "r1", "r10", "r2"})
	checkStrings(t, "Rooms(u2)", MustRooms(t, s, "u2"), []string{"r1"})
	checkStrings(t, "Members(r1)", MustMembers(t, s, "r1"), []string{"u1", "u10", "u2"})
	checkStrings(t, "Members(r)", MustMembers(t, s, "r"), []string{"u1"})
	for _, tc := range []struct {
		user, room string
		want       bool
	}{
		{"u1", "r1", true}, {"u2", "r1", true}, {"u2", "r2", false}, {"u", "r1", false}, {"u1", "r3", false},
	} {
		if got := MustIsMember(t, s, tc.user, tc.room); got != tc.want {
			t.Errorf("IsMember(%s, %s) = %v, want %v", tc.user, tc.room, got, tc.want)
		}
	}

	MustRemoveMember(t, s, "r1", "u1")
	MustRemoveMember(t, s, "r1", "u1")     // again: not an error
	MustRemoveMember(t, s, "r9", "nobody") // never a member: not an error
	if MustIsMember(t, s, "u1", "r1") {
		t.Error("IsMember after RemoveMember = true")
	}
	checkStrings(t, "Rooms(u1) after remove", MustRooms(t, s, "u1"), []string{"r", "r10", "r2"})
	checkStrings(t, "Members(r1) after remove", MustMembers(t, s, "r1"), []string{"u10", "u2"})
	MustRemoveMember(t, s, "r1", "u2")
	MustRemoveMember(t, s, "r1", "u10")
	checkStrings(t, "Members(r1) after removing all", MustMembers(t, s, "r1"), nil)
	MustAddMember(t, s, "r1", "u1") // rejoin
	checkStrings(t, "Members(r1) after rejoin", MustMembers(t, s, "r1"), []string{"u1"})
}

func testMembershipConcurrent(t *testing.T, h *harness) {
	s, _ := h.open(t)
	const users = 20
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			user := fmt.Sprintf("u%02d", u)
			for _, room := range []string{"r1", "r2"} {
				if err := s.AddMember(context.Background(), room, user); err != nil {
					t.Errorf("AddMember(%s, %s): %v", room, user, err)
				}
			}
			if u%2 == 1 {
				if err := s.RemoveMember(context.Background(), "r2", user); err != nil {
					t.Errorf("RemoveMember(r2, %s): %v", user, err)
				}
			}
		})
	}
	wg.Wait()
	var all, even []string
	for u := range users {
		all = append(all, fmt.Sprintf("u%02d", u))
		if u%2 == 0 {
			even = append(even, fmt.Sprintf("u%02d", u))
		}
	}
	checkStrings(t, "Members(r1)", MustMembers(t, s, "r1"), all)
	checkStrings(t, "Members(r2)", MustMembers(t, s, "r2"), even)
	checkStrings(t, "Rooms(u03)", MustRooms(t, s, "u03"), []string{"r1"})
	checkStrings(t, "Rooms(u04)", MustRooms(t, s, "u04"), []string{"r1", "r2"})
}

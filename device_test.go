package tripsense_test

import (
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
)

func TestParseDeviceID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		values []string
		want   string
		ok     bool
	}{
		{nil, tripsense.DefaultDevice, true},
		{[]string{}, tripsense.DefaultDevice, true},
		{[]string{"phone"}, "phone", true},
		{[]string{"ipad-2.home:1@x_y"}, "ipad-2.home:1@x_y", true},
		{[]string{strings.Repeat("d", tripsense.MaxIDLen)}, strings.Repeat("d", tripsense.MaxIDLen), true},
		{[]string{""}, "", false},
		{[]string{"my phone"}, "", false},
		{[]string{"a#b"}, "", false},
		{[]string{strings.Repeat("d", tripsense.MaxIDLen+1)}, "", false},
		{[]string{"phone", "phone"}, "", false},
	} {
		got, err := tripsense.ParseDeviceID(tc.values)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseDeviceID(%q) = %q, %v; want %q", tc.values, got, err, tc.want)
		}
		if !tc.ok && tripsense.ErrorCode(err) != tripsense.EINVALID {
			t.Errorf("ParseDeviceID(%q) = %q, %v; want bad_request", tc.values, got, err)
		}
	}
}

// TestDeviceKey: the default device's key is the user id (cursors stored
// before devices existed are the default device's), and no two (user,
// device) pairs share a key.
func TestDeviceKey(t *testing.T) {
	t.Parallel()
	if k := tripsense.DeviceKey("u1", tripsense.DefaultDevice); k != "u1" {
		t.Fatalf("default device key %q, want the user id", k)
	}
	seen := map[string][2]string{}
	for _, u := range []string{"u1", "u10", "u1.p"} {
		for _, d := range []string{tripsense.DefaultDevice, "p", "0", "phone", "u1"} {
			k := tripsense.DeviceKey(u, d)
			if prev, dup := seen[k]; dup {
				t.Fatalf("DeviceKey(%s, %s) = DeviceKey(%s, %s) = %q", u, d, prev[0], prev[1], k)
			}
			seen[k] = [2]string{u, d}
		}
	}
}

// TestOfUser: every device key of a user is the user's, no other user's
// (not even one whose id starts with it).
func TestOfUser(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"u1", "u10", "u1.p"} {
		for _, d := range []string{tripsense.DefaultDevice, "p", "phone"} {
			k := tripsense.DeviceKey(u, d)
			for _, other := range []string{"u1", "u10", "u1.p", "u"} {
				if got, want := tripsense.OfUser(k, other), other == u; got != want {
					t.Fatalf("OfUser(%q, %q) = %v, want %v", k, other, got, want)
				}
			}
		}
	}
}

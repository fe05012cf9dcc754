package catchup

import (
	"slices"
	"strconv"
	"strings"

	"github.com/tripsense/tripsense"
)

// MaxCursors bounds how many client cursors one request may carry.
const MaxCursors = 1000

// maxIndexDigits is the length of the largest int64, 9223372036854775807.
const maxIndexDigits = 19

// ParseCursors parses the client cursors of GET /v1/sync?after=: a
// comma-separated list of room:index entries, e.g.
// "uuidroom1:5,uuidroom2:4". Room ids may contain ':' themselves
// (tripsense.ValidID allows it), so an entry splits at its last ':'.
//
// It is strict: every entry needs a valid room id and an index of decimal
// digits only (no sign, at most 19 digits, within int64); empty entries,
// duplicate rooms and more than MaxCursors entries are rejected. The empty
// string yields an empty map. Errors are *tripsense.Error with code
// EINVALID and a message naming the offending entry by position.
func ParseCursors(s string) (map[string]int64, error) {
	if s == "" {
		return map[string]int64{}, nil
	}
	n := strings.Count(s, ",") + 1
	if n > MaxCursors {
		return nil, tripsense.Errorf(tripsense.EINVALID, "after: at most %d room:index entries", MaxCursors)
	}
	out := make(map[string]int64, n)
	pos := 0
	for entry := range strings.SplitSeq(s, ",") {
		pos++
		i := strings.LastIndexByte(entry, ':')
		if i < 0 {
			return nil, entryErr(pos, "is not room:index")
		}
		room, num := entry[:i], entry[i+1:]
		if !tripsense.ValidID(room) {
			return nil, entryErr(pos, "has an invalid room id (1-128 characters of [A-Za-z0-9_.:@-])")
		}
		index, ok := parseIndex(num)
		if !ok {
			return nil, entryErr(pos, "has an invalid index (a non-negative integer)")
		}
		if _, dup := out[room]; dup {
			return nil, entryErr(pos, "repeats room "+room)
		}
		out[room] = index
	}
	return out, nil
}

func entryErr(pos int, what string) error {
	return tripsense.Errorf(tripsense.EINVALID, "after: entry %d %s", pos, what)
}

// parseIndex parses 1 to 19 decimal digits that fit an int64.
func parseIndex(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxIndexDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// FormatCursors renders cursors in the syntax ParseCursors reads, sorted by
// room id; ParseCursors(FormatCursors(m)) equals m for every valid m.
func FormatCursors(cursors map[string]int64) string {
	rooms := make([]string, 0, len(cursors))
	for room := range cursors {
		rooms = append(rooms, room)
	}
	slices.Sort(rooms)
	var b []byte
	for i, room := range rooms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, room...)
		b = append(b, ':')
		b = strconv.AppendInt(b, cursors[room], 10)
	}
	return string(b)
}

package bolt

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/tripsense/tripsense"
)

// Record versions: 1 (plain messages, still read) and 2 (every entry of
// the log, with the lifecycle fields), which every write uses.
const (
	codecV1      = 1
	codecVersion = 2
)

var errCorrupt = errors.New("bolt: corrupt record")

// Flags of a version-2 record.
const (
	flagRemove  = 1 << 0
	flagDeleted = 1 << 1
)

// encodeMessage encodes the new entry m created at createMs (see
// encodeEntry).
func encodeMessage(m *tripsense.NewMessage, createMs int64) []byte {
	e := tripsense.Message{UserID: m.UserID, Type: m.Type, ClientMsgID: m.ClientMsgID, Body: m.Body,
		Kind: m.Kind, Target: m.Target, ReplyTo: m.ReplyTo, Reaction: m.Reaction, Remove: m.Remove}
	return encodeEntryMs(&e, createMs)
}

// encodeEntry encodes the fields of m that are not in its key (room and
// index are).
func encodeEntry(m *tripsense.Message) []byte {
	return encodeEntryMs(m, m.CreateTime.UnixMilli())
}

// encodeEntryMs is the version-2 record: version, userId, messageType,
// createTime (unix ms), clientMsgId, kind, target, replyTo, reaction,
// flags, editedAt, deletedBy, deletedAt (unix ms, 0 for none), the
// reactions (count, then user and reaction each), the edits (count, then
// indexes), then the body to the end.
func encodeEntryMs(m *tripsense.Message, createMs int64) []byte {
	n := 1 + 12*binary.MaxVarintLen64 + len(m.UserID) + len(m.Type) + len(m.ClientMsgID) + len(m.Kind) +
		len(m.Reaction) + len(m.DeletedBy) + len(m.Body) + len(m.Edits)*binary.MaxVarintLen64
	for _, r := range m.Reactions {
		n += 2*binary.MaxVarintLen64 + len(r.UserID) + len(r.Reaction)
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = appendString(b, m.UserID)
	b = appendString(b, m.Type)
	b = binary.AppendVarint(b, createMs)
	b = appendString(b, m.ClientMsgID)
	b = appendString(b, m.Kind)
	b = binary.AppendVarint(b, m.Target)
	b = binary.AppendVarint(b, m.ReplyTo)
	b = appendString(b, m.Reaction)
	var flags byte
	if m.Remove {
		flags |= flagRemove
	}
	if m.Deleted {
		flags |= flagDeleted
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, timeMs(m.EditedAt))
	b = appendString(b, m.DeletedBy)
	b = binary.AppendVarint(b, timeMs(m.DeletedAt))
	b = binary.AppendUvarint(b, uint64(len(m.Reactions)))
	for _, r := range m.Reactions {
		b = appendString(b, r.UserID)
		b = appendString(b, r.Reaction)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Edits)))
	for _, e := range m.Edits {
		b = binary.AppendVarint(b, e)
	}
	return append(b, m.Body...)
}

func timeMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func msTimeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return msTime(ms)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeMessage decodes v (see encodeEntryMs; version 1 records are
// plain messages) into the entry of room with index. It copies: v may
// belong to a transaction.
func decodeMessage(room string, index int64, v []byte) (tripsense.Message, error) {
	if len(v) == 0 || (v[0] != codecVersion && v[0] != codecV1) {
		return tripsense.Message{}, errCorrupt
	}
	d := decoder{b: v[1:]}
	m := tripsense.Message{Room: room, Index: index}
	m.UserID = d.string()
	m.Type = d.string()
	ms := d.varint()
	m.ClientMsgID = d.string()
	if v[0] == codecVersion {
		m.Kind = d.string()
		m.Target = d.varint()
		m.ReplyTo = d.varint()
		m.Reaction = d.string()
		flags := d.byte()
		m.Remove = flags&flagRemove != 0
		m.Deleted = flags&flagDeleted != 0
		m.EditedAt = msTimeOrZero(d.varint())
		m.DeletedBy = d.string()
		m.DeletedAt = msTimeOrZero(d.varint())
		if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
			m.Reactions = make([]tripsense.Reaction, n)
			for i := range m.Reactions {
				m.Reactions[i] = tripsense.Reaction{UserID: d.string(), Reaction: d.string()}
			}
		} else if n > 0 {
			d.bad = true
		}
		if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
			m.Edits = make([]int64, n)
			for i := range m.Edits {
				m.Edits[i] = d.varint()
			}
		} else if n > 0 {
			d.bad = true
		}
	}
	if d.bad {
		return tripsense.Message{}, errCorrupt
	}
	m.Body = string(d.b)
	m.CreateTime = msTime(ms)
	return m, nil
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.bad = true
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

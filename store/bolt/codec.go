package bolt

import (
	"encoding/binary"
	"errors"

	"github.com/tripsense/tripsense"
)

const codecVersion = 1

var errCorrupt = errors.New("bolt: corrupt record")

// encodeMessage encodes the fields of m that are not in its key (room and
// index are): version, userId, messageType, createTime (unix ms), clientMsgId,
// then the body to the end.
func encodeMessage(m *tripsense.NewMessage, createMs int64) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(m.UserID)+len(m.Type)+len(m.ClientMsgID)+binary.MaxVarintLen64+len(m.Body))
	b = append(b, codecVersion)
	b = appendString(b, m.UserID)
	b = appendString(b, m.Type)
	b = binary.AppendVarint(b, createMs)
	b = appendString(b, m.ClientMsgID)
	return append(b, m.Body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeMessage decodes v (see encodeMessage) into a message of room with
// index. It copies: v may belong to a transaction.
func decodeMessage(room string, index int64, v []byte) (tripsense.Message, error) {
	if len(v) == 0 || v[0] != codecVersion {
		return tripsense.Message{}, errCorrupt
	}
	d := decoder{b: v[1:]}
	m := tripsense.Message{Room: room, Index: index}
	m.UserID = d.string()
	m.Type = d.string()
	ms := d.varint()
	m.ClientMsgID = d.string()
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

package tripsense

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends m as a JSON object with the wire keys chatroomId, index,
// userId, chatMessage, messageType, createTime and (when set) clientMsgId.
// When frameType is not empty the object starts with "type":frameType (the
// WebSocket message frame). It allocates nothing beyond growing dst, so
// fan-out encodes a message once and catch-up encodes pages without
// per-message garbage.
func (m *Message) AppendJSON(dst []byte, frameType string) []byte {
	dst = append(dst, '{')
	if frameType != "" {
		dst = append(dst, `"type":`...)
		dst = AppendJSONString(dst, frameType)
		dst = append(dst, ',')
	}
	dst = append(dst, `"chatroomId":`...)
	dst = AppendJSONString(dst, m.Room)
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendInt(dst, m.Index, 10)
	dst = append(dst, `,"userId":`...)
	dst = AppendJSONString(dst, m.UserID)
	dst = append(dst, `,"chatMessage":`...)
	dst = AppendJSONString(dst, m.Body)
	dst = append(dst, `,"messageType":`...)
	dst = AppendJSONString(dst, m.Type)
	dst = append(dst, `,"createTime":"`...)
	dst = m.CreateTime.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, '"')
	if m.ClientMsgID != "" {
		dst = append(dst, `,"clientMsgId":`...)
		dst = AppendJSONString(dst, m.ClientMsgID)
	}
	return append(dst, '}')
}

// MarshalJSON encodes m with the wire keys (see AppendJSON).
func (m Message) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(make([]byte, 0, 128+len(m.Body)), ""), nil
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD; control characters, U+2028 and U+2029 are escaped.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

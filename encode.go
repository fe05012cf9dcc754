package tripsense

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends m as a JSON object with the wire keys. A message has
// chatroomId, index, userId, chatMessage (left out once deleted),
// messageType, createTime and, when set, clientMsgId, replyTo,
// "edited":true with editedAt, "deleted":true with deletedBy and deletedAt.
// An event has chatroomId, index, userId, target, createTime, clientMsgId
// when set, and: an edit its chatMessage (left out when its target was
// deleted), a reaction its reaction and remove.
//
// When frameType is not empty the object starts with "type":frameType (the
// WebSocket frame: "message" for a message, the kind for an event, see
// FrameType); when it is empty (a catch-up entry) the object carries
// "kind" instead. Reaction counts are in AppendStateJSON only: catch-up
// brings reactions as reaction events. It allocates nothing beyond growing
// dst, so fan-out encodes an entry once and catch-up encodes pages without
// per-entry garbage.
func (m *Message) AppendJSON(dst []byte, frameType string) []byte {
	return m.appendJSON(dst, frameType, false)
}

// AppendStateJSON appends the message m as history shows it: its
// AppendJSON catch-up entry plus "reactions":{"X":count,...} when it has
// any.
func (m *Message) AppendStateJSON(dst []byte) []byte {
	return m.appendJSON(dst, "", true)
}

// JSONSizeHint is a capacity for AppendJSON's output that fits a message
// whose strings need no escaping (the member names, the index and the
// time, plus its strings), so that encoding it allocates once.
func (m *Message) JSONSizeHint() int {
	return 256 + len(m.Room) + len(m.UserID) + len(m.Body) + len(m.Type) + len(m.ClientMsgID) + len(m.Reaction)
}

// FrameType is the type of m's live WebSocket frame: "message", "edit",
// "delete" or "reaction".
func (m *Message) FrameType() string { return m.EntryKind() }

func (m *Message) appendJSON(dst []byte, frameType string, reactions bool) []byte {
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
	if frameType == "" {
		dst = append(dst, `,"kind":`...)
		dst = AppendJSONString(dst, m.EntryKind())
	}
	if !m.IsMessage() {
		return m.appendEventTail(dst)
	}
	if !m.Deleted {
		dst = append(dst, `,"chatMessage":`...)
		dst = AppendJSONString(dst, m.Body)
	}
	dst = append(dst, `,"messageType":`...)
	dst = AppendJSONString(dst, m.Type)
	dst = appendTimeKey(dst, `,"createTime":"`, m.CreateTime)
	if m.ClientMsgID != "" {
		dst = append(dst, `,"clientMsgId":`...)
		dst = AppendJSONString(dst, m.ClientMsgID)
	}
	if m.ReplyTo > 0 {
		dst = append(dst, `,"replyTo":`...)
		dst = strconv.AppendInt(dst, m.ReplyTo, 10)
	}
	if !m.EditedAt.IsZero() {
		dst = append(dst, `,"edited":true`...)
		dst = appendTimeKey(dst, `,"editedAt":"`, m.EditedAt)
	}
	if m.Deleted {
		dst = append(dst, `,"deleted":true`...)
		if m.DeletedBy != "" {
			dst = append(dst, `,"deletedBy":`...)
			dst = AppendJSONString(dst, m.DeletedBy)
		}
		if !m.DeletedAt.IsZero() {
			dst = appendTimeKey(dst, `,"deletedAt":"`, m.DeletedAt)
		}
	}
	if reactions && len(m.Reactions) > 0 {
		dst = append(dst, `,"reactions":{`...)
		for i, rc := range m.ReactionCounts() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, rc.Reaction)
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, int64(rc.Count), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func (m *Message) appendEventTail(dst []byte) []byte {
	if !IsRoomKind(m.Kind) {
		dst = append(dst, `,"target":`...)
		dst = strconv.AppendInt(dst, m.Target, 10)
	}
	switch m.Kind {
	case KindMember:
		dst = append(dst, `,"event":`...)
		dst = AppendJSONString(dst, m.Type)
		dst = append(dst, `,"by":`...)
		dst = AppendJSONString(dst, m.Body)
	case KindRename:
		dst = append(dst, `,"name":`...)
		dst = AppendJSONString(dst, m.Body)
	case KindEdit:
		if m.Deleted {
			dst = append(dst, `,"deleted":true`...)
		} else {
			dst = append(dst, `,"chatMessage":`...)
			dst = AppendJSONString(dst, m.Body)
		}
	case KindReaction:
		dst = append(dst, `,"reaction":`...)
		dst = AppendJSONString(dst, m.Reaction)
		dst = append(dst, `,"remove":`...)
		dst = strconv.AppendBool(dst, m.Remove)
	}
	dst = appendTimeKey(dst, `,"createTime":"`, m.CreateTime)
	if m.ClientMsgID != "" {
		dst = append(dst, `,"clientMsgId":`...)
		dst = AppendJSONString(dst, m.ClientMsgID)
	}
	return append(dst, '}')
}

func appendTimeKey(dst []byte, key string, t time.Time) []byte {
	dst = append(dst, key...)
	dst = t.UTC().AppendFormat(dst, TimeLayout)
	return append(dst, '"')
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

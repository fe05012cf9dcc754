package catchup

import (
	"strconv"

	"github.com/tripsense/tripsense"
)

// AppendJSON appends r as
// {"chatroomId","lastSeen","head","unread","from","to","messages":[...],"complete","next"},
// with "next" only when r is not complete. Messages use the WebSocket
// message frame's keys without "type" (tripsense.Message.AppendJSON).
//
// A room with Err is {"chatroomId","error":{"code","message"}} only.
func (r *RoomSync) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"chatroomId":`...)
	dst = tripsense.AppendJSONString(dst, r.Room)
	if r.Err != nil {
		dst = AppendErrorJSON(append(dst, `,"error":`...), r.Err)
		return append(dst, '}')
	}
	dst = appendInt(dst, `,"lastSeen":`, r.LastSeen)
	dst = appendInt(dst, `,"head":`, r.Head)
	dst = appendInt(dst, `,"unread":`, r.Unread)
	dst = appendInt(dst, `,"from":`, r.From)
	dst = appendInt(dst, `,"to":`, r.To)
	dst = appendMessages(dst, `,"messages":`, r.Messages)
	dst = append(dst, `,"complete":`...)
	dst = strconv.AppendBool(dst, r.Complete)
	if !r.Complete {
		dst = appendInt(dst, `,"next":`, r.Next)
	}
	return append(dst, '}')
}

// MarshalJSON encodes r as AppendJSON does.
func (r RoomSync) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, EstimateSize(r.Messages))), nil
}

// AppendJSON appends p as {"chatroomId","head","messages":[...],"hasMore","next"},
// with "next" only when p.HasMore.
func (p *HistoryPage) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"chatroomId":`...)
	dst = tripsense.AppendJSONString(dst, p.Room)
	dst = appendInt(dst, `,"head":`, p.Head)
	dst = appendMessages(dst, `,"messages":`, p.Messages)
	dst = append(dst, `,"hasMore":`...)
	dst = strconv.AppendBool(dst, p.HasMore)
	if p.HasMore {
		dst = appendInt(dst, `,"next":`, p.Next)
	}
	return append(dst, '}')
}

// MarshalJSON encodes p as AppendJSON does.
func (p HistoryPage) MarshalJSON() ([]byte, error) {
	return p.AppendJSON(make([]byte, 0, EstimateSize(p.Messages))), nil
}

// EstimateSize returns a buffer size that usually holds the JSON of msgs
// plus a page's envelope, so encoding a page grows its buffer rarely.
func EstimateSize(msgs []tripsense.Message) int {
	n := 256
	for i := range msgs {
		m := &msgs[i]
		n += 160 + len(m.Room) + len(m.UserID) + len(m.Body) + len(m.Type) + len(m.ClientMsgID)
	}
	return n
}

func appendInt(dst []byte, key string, v int64) []byte {
	dst = append(dst, key...)
	return strconv.AppendInt(dst, v, 10)
}

// appendMessages appends key and msgs as a JSON array ([] when empty).
func appendMessages(dst []byte, key string, msgs []tripsense.Message) []byte {
	dst = append(dst, key...)
	dst = append(dst, '[')
	for i := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = msgs[i].AppendJSON(dst, "")
	}
	return append(dst, ']')
}

// AppendErrorJSON appends err as {"code":..,"message":..}, the error object
// of the HTTP API and of WebSocket frames (tripsense.ErrorCode and
// ErrorMessage: an internal error shows no detail).
func AppendErrorJSON(dst []byte, err error) []byte {
	dst = append(dst, `{"code":`...)
	dst = tripsense.AppendJSONString(dst, tripsense.ErrorCode(err))
	dst = append(dst, `,"message":`...)
	dst = tripsense.AppendJSONString(dst, tripsense.ErrorMessage(err))
	return append(dst, '}')
}

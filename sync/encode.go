package catchup

import (
	"io"
	"strconv"
	"sync"

	"github.com/tripsense/tripsense"
)

// AppendJSON appends r as
// {"chatroomId","lastSeen","head","unread","from","messages":[...],"to","complete","next"},
// with "next" only when r is not complete. Messages use the WebSocket
// message frame's keys without "type" (tripsense.Message.AppendJSON). "to"
// follows the messages because a streamed page knows it only once its
// messages are written; key order carries no meaning in JSON.
//
// A room with Err is {"chatroomId","error":{"code","message"}} only.
func (r *RoomSync) AppendJSON(dst []byte) []byte {
	if r.Err != nil {
		return appendRoomError(dst, r)
	}
	dst = appendRoomHead(dst, r.Room, r.LastSeen, r.Head, r.Unread, r.From, r.Truncated, r.Oldest)
	dst = appendMessageList(dst, r.Messages)
	return appendRoomTail(dst, r)
}

// appendRoomHead appends a RoomSync object up to the opening of its
// messages array.
func appendRoomHead(dst []byte, room string, lastSeen, head, unread, from int64, truncated bool, oldest int64) []byte {
	dst = append(dst, `{"chatroomId":`...)
	dst = tripsense.AppendJSONString(dst, room)
	dst = appendInt(dst, `,"lastSeen":`, lastSeen)
	dst = appendInt(dst, `,"head":`, head)
	dst = appendInt(dst, `,"unread":`, unread)
	dst = appendInt(dst, `,"from":`, from)
	dst = appendTruncated(dst, truncated, oldest)
	return append(dst, `,"messages":[`...)
}

// appendTruncated appends ,"truncated":true,"oldest":N when retention
// removed part of what was asked for.
func appendTruncated(dst []byte, truncated bool, oldest int64) []byte {
	if !truncated {
		return dst
	}
	dst = append(dst, `,"truncated":true`...)
	return appendInt(dst, `,"oldest":`, oldest)
}

// appendRoomError appends the entry of a room that failed alone (r.Err):
// {"chatroomId","error":{"code","message"}}.
func appendRoomError(dst []byte, r *RoomSync) []byte {
	dst = append(dst, `{"chatroomId":`...)
	dst = tripsense.AppendJSONString(dst, r.Room)
	dst = AppendErrorJSON(append(dst, `,"error":`...), r.Err)
	return append(dst, '}')
}

// appendRoomTail closes the messages array and the RoomSync object of r.
func appendRoomTail(dst []byte, r *RoomSync) []byte {
	dst = appendInt(dst, `],"to":`, r.To)
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
// with "next" only when p.HasMore and "truncated":true,"oldest":N when the
// page reached the retention edge. Messages are in their current state
// (tripsense.Message.AppendStateJSON).
func (p *HistoryPage) AppendJSON(dst []byte) []byte {
	dst = appendHistoryHead(dst, p.Room, p.Head)
	for i := range p.Messages {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = p.Messages[i].AppendStateJSON(dst)
	}
	dst = appendHistoryTail(dst, p.HasMore, p.Next)
	return appendTruncatedEnd(dst, p.Truncated, p.Oldest)
}

// appendTruncatedEnd adds the retention fields before the closing brace.
func appendTruncatedEnd(dst []byte, truncated bool, oldest int64) []byte {
	if !truncated {
		return dst
	}
	dst = appendTruncated(dst[:len(dst)-1], truncated, oldest)
	return append(dst, '}')
}

func appendHistoryHead(dst []byte, room string, head int64) []byte {
	dst = append(dst, `{"chatroomId":`...)
	dst = tripsense.AppendJSONString(dst, room)
	dst = appendInt(dst, `,"head":`, head)
	return append(dst, `,"messages":[`...)
}

func appendHistoryTail(dst []byte, hasMore bool, next int64) []byte {
	dst = append(dst, `],"hasMore":`...)
	dst = strconv.AppendBool(dst, hasMore)
	if hasMore {
		dst = appendInt(dst, `,"next":`, next)
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

// appendMessageList appends the elements of a messages array (no brackets).
func appendMessageList(dst []byte, msgs []tripsense.Message) []byte {
	for i := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = msgs[i].AppendJSON(dst, "")
	}
	return dst
}

// streamBuffer is how much of a streamed answer is buffered before it is
// written: the answer's first write happens only past it (or at the end).
const streamBuffer = 32 << 10

var streamPool = sync.Pool{New: func() any { b := make([]byte, 0, streamBuffer); return &b }}

// jsonWriter buffers a streamed answer and writes it to w in pieces of
// about streamBuffer bytes. Its buffer never grows past streamBuffer plus
// one envelope: a message that does not fit is written on its own. The
// first write error sticks and is returned by every later call.
type jsonWriter struct {
	w   io.Writer
	bp  *[]byte
	buf []byte
	err error
}

func newJSONWriter(w io.Writer) *jsonWriter {
	bp := streamPool.Get().(*[]byte)
	return &jsonWriter{w: w, bp: bp, buf: (*bp)[:0]}
}

// free returns the buffer to the pool; j must not be used after.
func (j *jsonWriter) free() {
	if cap(j.buf) <= 2*streamBuffer {
		*j.bp = j.buf[:0]
		streamPool.Put(j.bp)
	}
	j.buf, j.bp = nil, nil
}

// write adds p (a message's JSON) to the answer.
func (j *jsonWriter) write(p []byte) error {
	if len(j.buf)+len(p) > streamBuffer {
		if err := j.flush(); err != nil {
			return err
		}
	}
	if len(p) > streamBuffer {
		if j.err == nil {
			_, j.err = j.w.Write(p)
		}
		return j.err
	}
	j.buf = append(j.buf, p...)
	return j.err
}

// maybeFlush writes the buffer once it holds streamBuffer bytes.
func (j *jsonWriter) maybeFlush() error {
	if len(j.buf) >= streamBuffer {
		return j.flush()
	}
	return j.err
}

// flush writes what is buffered.
func (j *jsonWriter) flush() error {
	if j.err == nil && len(j.buf) > 0 {
		_, j.err = j.w.Write(j.buf)
	}
	j.buf = j.buf[:0]
	return j.err
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

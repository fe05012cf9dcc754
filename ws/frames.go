package ws

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

// Close codes sent by the server. 1001 and 1009 are standard; the 4xxx codes
// are ours and documented in docs/protocol.md.
const (
	CloseGoingAway    = 1001 // server shutting down
	CloseTooBig       = 1009 // a frame over tripsense.HardFrameBytes
	CloseReplaced     = 4000 // a newer connection of the same user replaced this one
	CloseSlowConsumer = 4001 // the outgoing queue overflowed; catch up with sync
	CloseRemoved      = 4002 // the server dropped the connection (gone, or an internal failure)
	CloseExpired      = 4003 // the connection's token reached its exp (refresh it before with an auth frame); reconnect with a fresh one
)

// inFrame is every client frame. Pointers mark fields whose absence matters.
type inFrame struct {
	Action      string           `json:"action"`
	UserID      *string          `json:"userId"`
	ChatroomID  string           `json:"chatroomId"`
	ChatMessage *string          `json:"chatMessage"`
	MessageType string           `json:"messageType"`
	ClientMsgID string           `json:"clientMsgId"`
	Index       *int64           `json:"index"`
	Cursors     map[string]int64 `json:"cursors"`
	Limit       int              `json:"limit"`
	Token       string           `json:"token"`
	ReplyTo     *int64           `json:"replyTo"`
	Reaction    string           `json:"reaction"`
	Remove      bool             `json:"remove"`
}

// frameFields are the member names of inFrame, matched exactly.
var frameFields = tripsense.JSONFieldNames(reflect.TypeOf(inFrame{}))

// decodeFrame parses one client frame. It returns an *tripsense.Error with
// code EINVALID or ETOOLARGE for anything it cannot use: besides what the
// decoder refuses, bytes that are not UTF-8 (text and binary messages
// alike), a member given twice and a known member in another letter case
// (tripsense.CheckJSON). Unknown members are ignored.
func decodeFrame(data []byte) (inFrame, error) {
	var f inFrame
	if len(data) > tripsense.MaxFrameBytes {
		return f, tripsense.Errorf(tripsense.ETOOLARGE, "frame is over %d bytes", tripsense.MaxFrameBytes)
	}
	if fast, ok := decodeSendFast(data); ok {
		return fast, nil
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, tripsense.Errorf(tripsense.EINVALID, "frame is not a JSON object: %s", jsonErrorText(err))
	}
	if err := tripsense.CheckJSON(data, frameFields); err != nil {
		return inFrame{}, tripsense.Errorf(tripsense.EINVALID, "frame: %s", tripsense.ErrorMessage(err))
	}
	if f.Action == "" {
		return f, tripsense.Errorf(tripsense.EINVALID, `frame has no "action"`)
	}
	return f, nil
}

// jsonErrorText keeps decoder messages short and free of Go type names.
func jsonErrorText(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return "syntax error at byte " + strconv.FormatInt(e.Offset, 10)
	case *json.UnmarshalTypeError:
		if e.Field != "" {
			return "field " + strconv.Quote(e.Field) + " has the wrong type"
		}
		return "expected a JSON object"
	default:
		return "invalid JSON"
	}
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, tripsense.TimeLayout)
	return append(dst, '"')
}

// ackFrame is {"type":"ack","chatroomId":..,"index":..,"clientMsgId":..,"createTime":..,"duplicate":..}.
func ackFrame(m *tripsense.Message, duplicate bool) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"type":"ack","chatroomId":`...)
	b = tripsense.AppendJSONString(b, m.Room)
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, m.Index, 10)
	if m.ClientMsgID != "" {
		b = append(b, `,"clientMsgId":`...)
		b = tripsense.AppendJSONString(b, m.ClientMsgID)
	}
	b = append(b, `,"createTime":`...)
	b = appendTime(b, m.CreateTime)
	if duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, '}')
}

// errorFrame is {"type":"error","code":..,"message":..} plus the action and
// clientMsgId it answers, when known, so a client can match it to a request.
func errorFrame(err error, action, clientMsgID string) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"type":"error","code":`...)
	b = tripsense.AppendJSONString(b, tripsense.ErrorCode(err))
	b = append(b, `,"message":`...)
	b = tripsense.AppendJSONString(b, tripsense.ErrorMessage(err))
	if action != "" && len(action) <= 64 {
		b = append(b, `,"action":`...)
		b = tripsense.AppendJSONString(b, action)
	}
	if clientMsgID != "" && tripsense.ValidClientMsgID(clientMsgID) {
		b = append(b, `,"clientMsgId":`...)
		b = tripsense.AppendJSONString(b, clientMsgID)
	}
	return append(b, '}')
}

// undecodedFrame is the error frame of a frame that did not decode (err):
// its action and clientMsgId are still echoed when they can be read from
// it as top-level strings (a send whose chatMessage has the wrong type, a
// sync whose cursors are not an object), so that the client can tell
// which of its frames failed: a pending send by its clientMsgId, a sync
// by its action.
func undecodedFrame(err error, data []byte) []byte {
	var action, id string
	if len(data) <= tripsense.MaxFrameBytes {
		action, _ = tripsense.JSONStringMember(data, "action")
		id, _ = tripsense.JSONStringMember(data, "clientMsgId")
	}
	return errorFrame(err, action, id)
}

// rateLimitedFrame is the error frame of a refused frame, with
// "retryAfterMs": how long until the budget has a token again (at least 1).
func rateLimitedFrame(err error, action, clientMsgID string, wait time.Duration) []byte {
	b := errorFrame(err, action, clientMsgID)
	ms := max(wait.Milliseconds(), 1)
	if wait%time.Millisecond != 0 {
		ms = max(wait.Milliseconds()+1, 1) // round up: retrying at ms is never early
	}
	b = append(b[:len(b)-1], `,"retryAfterMs":`...)
	b = strconv.AppendInt(b, ms, 10)
	return append(b, '}')
}

var pongFrame = []byte(`{"type":"pong"}`)

// ClosingFrame is {"type":"closing","code":N,"reason":R}: what a runtime
// that cannot send WebSocket close codes of its own (API Gateway) pushes
// right before it deletes a connection, so the client still learns the
// close code (4000 replaced, 4001 slow consumer, 4002 removed, 4003 token
// expired) and reason.
func ClosingFrame(code int, reason string) []byte {
	b := append([]byte(nil), `{"type":"closing","code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"reason":`...)
	b = tripsense.AppendJSONString(b, reason)
	return append(b, '}')
}

// cursorFrame answers markRead: {"type":"cursor","chatroomId":..,"lastRead":..}.
func cursorFrame(c tripsense.ReadCursor) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"type":"cursor","chatroomId":`...)
	b = tripsense.AppendJSONString(b, c.Room)
	b = append(b, `,"lastRead":`...)
	b = strconv.AppendInt(b, c.LastRead, 10)
	return append(b, '}')
}

// receiptFrame tells a room's online members that a read cursor moved:
// {"type":"receipt","chatroomId":..,"userId":..,"lastRead":..}.
func receiptFrame(room, user string, lastRead int64) []byte {
	b := make([]byte, 0, 112)
	b = append(b, `{"type":"receipt","chatroomId":`...)
	b = tripsense.AppendJSONString(b, room)
	b = append(b, `,"userId":`...)
	b = tripsense.AppendJSONString(b, user)
	b = append(b, `,"lastRead":`...)
	b = strconv.AppendInt(b, lastRead, 10)
	return append(b, '}')
}

// Membership events of member frames.
const (
	memberJoined = "joined"
	memberLeft   = "left"
)

// memberFrame announces a membership change:
// {"type":"member","chatroomId":..,"userId":..,"event":"joined"|"left"}.
func memberFrame(room, user, event string) []byte {
	b := make([]byte, 0, 112)
	b = append(b, `{"type":"member","chatroomId":`...)
	b = tripsense.AppendJSONString(b, room)
	b = append(b, `,"userId":`...)
	b = tripsense.AppendJSONString(b, user)
	b = append(b, `,"event":`...)
	b = tripsense.AppendJSONString(b, event)
	return append(b, '}')
}

// syncDoneFrame ends every sync, after its last synced frame; it carries
// the store's epoch when the Service has one.
func (s *Service) syncDoneFrame() []byte {
	if s.Epoch == "" {
		return []byte(`{"type":"syncDone"}`)
	}
	return []byte(`{"type":"syncDone","epoch":` + strconv.Quote(s.Epoch) + `}`)
}

// syncedErrorFrame ends a room of a sync that could not be caught up:
// {"type":"synced","chatroomId":..,"error":{"code":..,"message":..}}.
func syncedErrorFrame(room string, err error) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"type":"synced","chatroomId":`...)
	b = tripsense.AppendJSONString(b, room)
	b = append(b, `,"error":`...)
	b = catchup.AppendErrorJSON(b, err)
	return append(b, '}')
}

// syncedFrame ends one room of a sync:
// {"type":"synced","chatroomId":..,"head":..,"complete":true}, or, when the
// sync stopped at its bound before the head,
// {"type":"synced","chatroomId":..,"head":..,"complete":false,"next":N}.
func syncedFrame(room string, head, last int64) []byte {
	b := make([]byte, 0, 112)
	b = append(b, `{"type":"synced","chatroomId":`...)
	b = tripsense.AppendJSONString(b, room)
	b = append(b, `,"head":`...)
	b = strconv.AppendInt(b, head, 10)
	if last >= head {
		return append(b, `,"complete":true}`...)
	}
	b = append(b, `,"complete":false,"next":`...)
	b = strconv.AppendInt(b, last, 10)
	return append(b, '}')
}

// truncatedFrame adds "truncated":true,"oldest":N to the synced frame b of
// a room whose range retention cut: the entries after the client's cursor
// and below oldest are gone, and the sync started at oldest.
func truncatedFrame(b []byte, r catchup.Range) []byte {
	if !r.Truncated {
		return b
	}
	b = append(b[:len(b)-1], `,"truncated":true,"oldest":`...)
	b = strconv.AppendInt(b, r.Oldest, 10)
	return append(b, '}')
}

package ws

import "unicode/utf8"

// decodeSendFast decodes the common sendMessage frame without reflection: an
// object whose members are only action, userId, chatroomId, chatMessage,
// messageType and clientMsgId, each at most once, each a string without
// escapes or control characters, in valid UTF-8. For such a frame it gives
// exactly what json.Unmarshal and tripsense.CheckJSON give (checked by
// FuzzDecodeSendFast); for anything else it reports false and decodeFrame
// takes the full path, which decides (and words the error) as before.
func decodeSendFast(data []byte) (inFrame, bool) {
	var f inFrame
	if !utf8.Valid(data) {
		return f, false
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return f, false
	}
	// One copy of the frame, which every member's string is a part of:
	// one allocation per frame instead of one per member.
	text := string(data)
	i = skipSpace(data, i+1)
	var seen uint8
	for {
		name, j, ok := plainString(data, i)
		if !ok {
			return f, false
		}
		i = skipSpace(data, j)
		if i >= len(data) || data[i] != ':' {
			return f, false
		}
		val, j, ok := plainString(data, skipSpace(data, i+1))
		if !ok {
			return f, false
		}
		var bit uint8
		var dst *string
		switch string(name) { // no allocation: the compiler compares in place
		case "action":
			bit, dst = 1, &f.Action
		case "userId":
			bit, f.UserID = 2, new(string)
			dst = f.UserID
		case "chatroomId":
			bit, dst = 4, &f.ChatroomID
		case "chatMessage":
			bit, f.ChatMessage = 8, new(string)
			dst = f.ChatMessage
		case "messageType":
			bit, dst = 16, &f.MessageType
		case "clientMsgId":
			bit, dst = 32, &f.ClientMsgID
		default:
			return inFrame{}, false
		}
		*dst = text[j-1-len(val) : j-1] // val and its closing quote end at j
		if seen&bit != 0 {
			return inFrame{}, false // given twice: the full path refuses it
		}
		seen |= bit
		i = skipSpace(data, j)
		if i >= len(data) {
			return inFrame{}, false
		}
		if data[i] == '}' {
			if skipSpace(data, i+1) != len(data) || f.Action == "" {
				return inFrame{}, false
			}
			return f, true
		}
		if data[i] != ',' {
			return inFrame{}, false
		}
		i = skipSpace(data, i+1)
	}
}

// plainString reads a JSON string at data[i] that has no escape and no
// control character, and returns its contents and the index after it.
func plainString(data []byte, i int) ([]byte, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

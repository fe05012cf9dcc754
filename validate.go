package tripsense

import (
	"unicode/utf8"
)

// Limits on input. Each is documented in docs/protocol.md and docs/api.md.
const (
	MaxChatMessageBytes = 16 << 10 // chatMessage body, in bytes of UTF-8
	MaxFrameBytes       = 32 << 10 // a WebSocket frame we read and answer
	HardFrameBytes      = 1 << 20  // beyond this the connection is closed with 1009
	MaxIDLen            = 128      // userId, chatroomId
	MaxMessageTypeLen   = 64
	MaxClientMsgIDLen   = 128
	DefaultPageLimit    = 100
	MaxPageLimit        = 1000
)

// Limits behind API Gateway (the AWS runtime). API Gateway closes a
// WebSocket connection with 1009 when a client frame is over 32 KB, before
// any code runs, so the body limit there must keep every valid sendMessage
// frame under it, however the client's JSON encoder escapes the body.
const (
	// GatewayFrameBytes is API Gateway's WebSocket frame limit, taken as
	// 32,000 bytes (AWS writes "32 KB") to be safe either way.
	GatewayFrameBytes = 32000
	// MaxEscapedByteLen is the most bytes one byte of a string can become
	// in JSON: \u00XX for a control character (and for <, > and & in
	// encoders that escape HTML, such as Go's encoding/json). U+2028 and
	// U+2029 (3 bytes) become \u2028 (6): 2 per byte.
	MaxEscapedByteLen = 6
	// MaxSendEnvelopeBytes bounds a sendMessage frame without its body,
	// compact JSON, every field at its longest: action, userId and
	// chatroomId of MaxIDLen, messageType of MaxMessageTypeLen and a
	// clientMsgId of MaxClientMsgIDLen characters each escaped to 6 bytes.
	MaxSendEnvelopeBytes = 2048
	// MaxChatMessageBytesGateway is the chatMessage limit behind API
	// Gateway: 4096 bytes of UTF-8, whose worst case is 4096*6 + 2048 =
	// 26,624 bytes, under GatewayFrameBytes. A longer body is answered with
	// too_large (its frame reaches the function while under 32 KB).
	MaxChatMessageBytesGateway = 4096
)

// ValidID reports whether s is a valid user or room id: 1 to MaxIDLen
// characters from [A-Za-z0-9_.:@-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidMessageType reports whether s is a valid messageType: 1 to
// MaxMessageTypeLen characters from [A-Za-z0-9 _./:-] (the seed uses
// "text message").
func ValidMessageType(s string) bool {
	if len(s) == 0 || len(s) > MaxMessageTypeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ' ', c == '_', c == '.', c == '/', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidClientMsgID reports whether s is empty or 1 to MaxClientMsgIDLen
// printable ASCII characters.
func ValidClientMsgID(s string) bool {
	if len(s) > MaxClientMsgIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidateNewMessage checks m against the limits and returns an *Error with
// code EINVALID or ETOOLARGE.
func ValidateNewMessage(m NewMessage) error {
	return ValidateNewMessageMax(m, MaxChatMessageBytes)
}

// ValidateNewMessageMax is ValidateNewMessage with a body limit of maxBody
// bytes (MaxChatMessageBytesGateway on AWS); 0 or more than
// MaxChatMessageBytes means MaxChatMessageBytes.
func ValidateNewMessageMax(m NewMessage, maxBody int) error {
	if maxBody <= 0 || maxBody > MaxChatMessageBytes {
		maxBody = MaxChatMessageBytes
	}
	switch {
	case !ValidID(m.Room):
		return Errorf(EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", MaxIDLen)
	case !ValidID(m.UserID):
		return Errorf(EINVALID, "userId must be 1-%d characters of [A-Za-z0-9_.:@-]", MaxIDLen)
	case m.Body == "":
		return Errorf(EINVALID, "chatMessage is required")
	case len(m.Body) > maxBody:
		return Errorf(ETOOLARGE, "chatMessage is over %d bytes", maxBody)
	case !utf8.ValidString(m.Body):
		return Errorf(EINVALID, "chatMessage must be valid UTF-8")
	case !ValidMessageType(m.Type):
		return Errorf(EINVALID, "messageType must be 1-%d characters of [A-Za-z0-9 _./:-]", MaxMessageTypeLen)
	case !ValidClientMsgID(m.ClientMsgID):
		return Errorf(EINVALID, "clientMsgId must be at most %d printable ASCII characters", MaxClientMsgIDLen)
	case m.Kind != "":
		return Errorf(EINVALID, "a message has no event kind")
	case m.ReplyTo < 0:
		return Errorf(EINVALID, "replyTo must be the positive index of a message of the room")
	}
	return nil
}

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
	switch {
	case !ValidID(m.Room):
		return Errorf(EINVALID, "chatroomId must be 1-%d characters of [A-Za-z0-9_.:@-]", MaxIDLen)
	case !ValidID(m.UserID):
		return Errorf(EINVALID, "userId must be 1-%d characters of [A-Za-z0-9_.:@-]", MaxIDLen)
	case m.Body == "":
		return Errorf(EINVALID, "chatMessage is required")
	case len(m.Body) > MaxChatMessageBytes:
		return Errorf(ETOOLARGE, "chatMessage is over %d bytes", MaxChatMessageBytes)
	case !utf8.ValidString(m.Body):
		return Errorf(EINVALID, "chatMessage must be valid UTF-8")
	case !ValidMessageType(m.Type):
		return Errorf(EINVALID, "messageType must be 1-%d characters of [A-Za-z0-9 _./:-]", MaxMessageTypeLen)
	case !ValidClientMsgID(m.ClientMsgID):
		return Errorf(EINVALID, "clientMsgId must be at most %d printable ASCII characters", MaxClientMsgIDLen)
	}
	return nil
}

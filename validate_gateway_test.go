package tripsense_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
)

// TestGatewayBodyLimitFitsTheFrame: the sendMessage frame of any body
// within MaxChatMessageBytesGateway stays under API Gateway's frame limit
// even when the client's encoder escapes every byte (Go's encoding/json:
// control characters and <, >, & as \u00XX), with every other field at its
// longest; so behind API Gateway a valid message never meets the 1009
// close, and a too long one reaches the function and gets too_large.
func TestGatewayBodyLimitFitsTheFrame(t *testing.T) {
	id := strings.Repeat("a", tripsense.MaxIDLen)
	frame := func(body string) []byte {
		b, err := json.Marshal(map[string]string{
			"action": "sendMessage", "userId": id, "chatroomId": id, "chatMessage": body,
			"messageType": strings.Repeat("t", tripsense.MaxMessageTypeLen),
			"clientMsgId": strings.Repeat("<", tripsense.MaxClientMsgIDLen),
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	envelope := len(frame(""))
	if envelope > tripsense.MaxSendEnvelopeBytes {
		t.Fatalf("envelope %d bytes, over MaxSendEnvelopeBytes %d", envelope, tripsense.MaxSendEnvelopeBytes)
	}
	for name, body := range map[string]string{
		"control characters": strings.Repeat("\x01", tripsense.MaxChatMessageBytesGateway),
		"html characters":    strings.Repeat("<", tripsense.MaxChatMessageBytesGateway),
		"U+2028":             strings.Repeat("\u2028", tripsense.MaxChatMessageBytesGateway/3),
		"quotes":             strings.Repeat(`"`, tripsense.MaxChatMessageBytesGateway),
	} {
		m := tripsense.NewMessage{Room: "r", UserID: "u", Body: body, Type: "t"}
		if err := tripsense.ValidateNewMessageMax(m, tripsense.MaxChatMessageBytesGateway); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := len(frame(body)); n > tripsense.GatewayFrameBytes {
			t.Fatalf("%s: frame of %d bytes, over the gateway's %d", name, n, tripsense.GatewayFrameBytes)
		}
	}
	if n := tripsense.MaxChatMessageBytesGateway*tripsense.MaxEscapedByteLen + tripsense.MaxSendEnvelopeBytes; n > tripsense.GatewayFrameBytes {
		t.Fatalf("worst case %d bytes, over %d", n, tripsense.GatewayFrameBytes)
	}
	over := tripsense.NewMessage{Room: "r", UserID: "u", Body: strings.Repeat("x", tripsense.MaxChatMessageBytesGateway+1), Type: "t"}
	if err := tripsense.ValidateNewMessageMax(over, tripsense.MaxChatMessageBytesGateway); tripsense.ErrorCode(err) != tripsense.ETOOLARGE {
		t.Fatalf("one byte over: %v, want too_large", err)
	}
	// The local default stays 16 KiB.
	if err := tripsense.ValidateNewMessageMax(over, 0); err != nil {
		t.Fatalf("default limit: %v", err)
	}
}

package loadgen

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// stamp is what a bench message carries inside its chatMessage: who sent
// it, the sender's window slot it occupies, the sender's sequence number and
// the send time. Sender indexes the run's sender table.
type stamp struct {
	Sender int
	Slot   int
	Seq    uint64
	Nanos  int64 // send time, Unix nanoseconds
}

// payloadPrefix starts every bench chatMessage.
const payloadPrefix = "lg:"

// appendPayload appends the chatMessage of s, padded with 'x' to size bytes
// (longer when the stamp alone needs more): "lg:SENDER:SLOT:SEQ:NANOS:xxx…".
func appendPayload(dst []byte, s stamp, size int) []byte {
	start := len(dst)
	dst = append(dst, payloadPrefix...)
	dst = strconv.AppendInt(dst, int64(s.Sender), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(s.Slot), 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, s.Seq, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, s.Nanos, 10)
	dst = append(dst, ':')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// minPayloadSize is the longest stamp a run can produce (nanoseconds take
// 19 digits until 2286), a lower bound for --size.
const minPayloadSize = len(payloadPrefix) + 6 + 1 + 4 + 1 + 13 + 1 + 19 + 1

// parsePayload reads the stamp of a chatMessage made by appendPayload.
func parsePayload(b []byte) (stamp, bool) {
	var s stamp
	if len(b) < len(payloadPrefix) || string(b[:len(payloadPrefix)]) != payloadPrefix {
		return s, false
	}
	b = b[len(payloadPrefix):]
	var fields [4]uint64
	for i := range fields {
		v, n, ok := parseUintField(b)
		if !ok || n >= len(b) || b[n] != ':' {
			return s, false
		}
		fields[i] = v
		b = b[n+1:]
	}
	if fields[0] > 1<<31 || fields[1] > 1<<31 || fields[3] > 1<<63-1 {
		return s, false
	}
	s.Sender, s.Slot, s.Seq, s.Nanos = int(fields[0]), int(fields[1]), fields[2], int64(fields[3])
	return s, true
}

// parseUintField parses leading decimal digits (1 to 19 of them) of b.
func parseUintField(b []byte) (v uint64, n int, ok bool) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		if n == 19 {
			return 0, 0, false
		}
		v = v*10 + uint64(b[n]-'0')
		n++
	}
	return v, n, n > 0
}

// seqDigits is the width of the zero-padded sequence number in a
// clientMsgId (a sender sends far fewer than 10^16 messages in a run;
// parseUintField reads at most 19 digits).
const seqDigits = 16

// appendClientMsgID appends "SENDER.SEQ.SLOT" with SEQ zero-padded, so that
// one sender's ids sort in the order it sends them (as time-ordered ids,
// UUIDv7 or ULID, do; the SDK sends UUIDv7), or, with random, the same
// behind "r" and 16 hex digits mixed from sender and seq, so that they sort
// randomly (as UUIDv4 do). Unique per sender user and room, which is all
// the server's idempotency key needs.
func appendClientMsgID(dst []byte, s stamp, random bool) []byte {
	if random {
		dst = append(dst, 'r')
		var mixed [8]byte
		binary.BigEndian.PutUint64(mixed[:], mix64(uint64(s.Sender)<<44^s.Seq))
		dst = hex.AppendEncode(dst, mixed[:])
		dst = append(dst, '.')
	}
	dst = strconv.AppendInt(dst, int64(s.Sender), 10)
	dst = append(dst, '.')
	var digits [seqDigits]byte
	v := s.Seq
	for i := seqDigits - 1; i >= 0; i-- {
		digits[i] = byte('0' + v%10)
		v /= 10
	}
	dst = append(dst, digits[:]...)
	dst = append(dst, '.')
	return strconv.AppendInt(dst, int64(s.Slot), 10)
}

// mix64 is splitmix64's finalizer: a bijection that scatters its input.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// parseClientMsgID reads what appendClientMsgID wrote (either form).
func parseClientMsgID(b []byte) (sender, slot int, seq uint64, ok bool) {
	if len(b) > 0 && b[0] == 'r' {
		if len(b) < 18 || b[17] != '.' {
			return 0, 0, 0, false
		}
		b = b[18:]
	}
	var f [3]uint64
	for i := range f {
		v, n, good := parseUintField(b)
		if !good {
			return 0, 0, 0, false
		}
		f[i] = v
		b = b[n:]
		if i < 2 {
			if len(b) == 0 || b[0] != '.' {
				return 0, 0, 0, false
			}
			b = b[1:]
		}
	}
	if len(b) != 0 || f[0] > 1<<31 || f[2] > 1<<31 {
		return 0, 0, 0, false
	}
	return int(f[0]), int(f[2]), f[1], true
}

// appendSendFrame appends the sendMessage frame of s from user to room.
// Bench ids and payloads are plain ASCII without quotes or backslashes, so
// no escaping is needed (ids are checked when the run is planned).
func appendSendFrame(dst []byte, user, room string, s stamp, size int, randomIDs bool) []byte {
	dst = append(dst, `{"action":"sendMessage","userId":"`...)
	dst = append(dst, user...)
	dst = append(dst, `","chatroomId":"`...)
	dst = append(dst, room...)
	dst = append(dst, `","chatMessage":"`...)
	dst = appendPayload(dst, s, size)
	dst = append(dst, `","messageType":"text message","clientMsgId":"`...)
	dst = appendClientMsgID(dst, s, randomIDs)
	return append(dst, `"}`...)
}

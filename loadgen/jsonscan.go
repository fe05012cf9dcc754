package loadgen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// A small JSON scanner for the server's frames and pages. The client shares
// the machine's cores with the server, and decoding a quarter of a million
// frames a second with encoding/json would cost the client more CPU than
// the server spends sending them; this scanner walks the bytes once,
// allocates nothing, and hands out sub-slices of the input. It validates
// structure as far as it walks (strings, nesting, literals) and falls back
// to encoding/json only to unescape a string that contains escapes.

var errJSON = errors.New("malformed JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanString returns the index just past the closing quote of the string
// starting at b[i] == '"', and whether it contains escapes. It finds the
// quote and any backslash with bytes.IndexByte (vectorised) and checks the
// spans between for control characters eight bytes at a time: the
// chatMessage of every delivery passes through here.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	i++
	for i <= len(b) {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, false, errJSON
		}
		span := b[i : i+j]
		k := bytes.IndexByte(span, '\\')
		if k < 0 {
			if hasControl(span) {
				return 0, false, errJSON
			}
			return i + j + 1, escaped, nil
		}
		// An escape before the quote: the escaped byte (a quote too, maybe)
		// is skipped, and the scan goes on after it.
		if hasControl(span[:k]) {
			return 0, false, errJSON
		}
		escaped = true
		i += k + 2
	}
	return 0, false, errJSON
}

// hasControl reports whether s holds a byte below 0x20. Eight bytes at a
// time: x - 0x20 in each byte sets its high bit when the byte is below 0x20
// (a byte of 0x80 or more is masked by ^x); a borrow it passes on can only
// mark a higher byte when a lower one was below 0x20 already.
func hasControl(s []byte) bool {
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		if (x-0x2020202020202020)&^x&0x8080808080808080 != 0 {
			return true
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, errJSON
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{' || c == '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _, err := scanString(b, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errJSON
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return j, nil
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return 0, errJSON
	}
}

// eachField calls fn with the raw key (without quotes) and the raw value of
// every member of the JSON object b, in order. fn's error stops the walk.
func eachField(b []byte, fn func(key, val []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errJSON
		}
		kend, _, err := scanString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : kend-1]
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return errJSON
		}
		vstart := skipSpace(b, i+1)
		vend, err := skipValue(b, vstart)
		if err != nil {
			return err
		}
		if err := fn(key, b[vstart:vend]); err != nil {
			return err
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return errJSON
		}
		if b[i] == '}' {
			return trailing(b, i+1)
		}
		if b[i] != ',' {
			return errJSON
		}
		i = skipSpace(b, i+1)
	}
}

// eachElem calls fn with every raw element of the JSON array b.
func eachElem(b []byte, fn func(val []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return errJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return trailing(b, i+1)
	}
	for {
		vend, err := skipValue(b, i)
		if err != nil {
			return err
		}
		if err := fn(b[i:vend]); err != nil {
			return err
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return errJSON
		}
		if b[i] == ']' {
			return trailing(b, i+1)
		}
		if b[i] != ',' {
			return errJSON
		}
		i = skipSpace(b, i+1)
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errJSON
	}
	return nil
}

// strVal returns the content of the JSON string val. Without escapes it is
// a sub-slice of val; with escapes it is decoded into a new slice.
func strVal(val []byte) ([]byte, error) {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return nil, fmt.Errorf("%w: want a string", errJSON)
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(val, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return inner, nil
}

// intVal parses the JSON integer val (no fraction, no exponent).
func intVal(val []byte) (int64, error) {
	neg := len(val) > 0 && val[0] == '-'
	if neg {
		val = val[1:]
	}
	if len(val) == 0 || len(val) > 19 {
		return 0, fmt.Errorf("%w: want an integer", errJSON)
	}
	var v int64
	for _, c := range val {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: want an integer", errJSON)
		}
		v = v*10 + int64(c-'0')
		if v < 0 {
			return 0, fmt.Errorf("%w: integer overflows", errJSON)
		}
	}
	if neg {
		v = -v
	}
	return v, nil
}

// boolVal parses true or false.
func boolVal(val []byte) (bool, error) {
	switch string(val) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%w: want a boolean", errJSON)
}

// frame is the union of the server frames the generator reads
// ({"type":"message"|"messages"|"ack"|"synced"|"error"|"pong"|"cursor",...}) and of
// the message objects inside HTTP pages (no "type"). Byte slices point into
// the parsed buffer and are valid until it is reused.
type frame struct {
	Type        []byte
	Room        []byte
	Index       int64
	UserID      []byte
	ChatMessage []byte
	ClientMsgID []byte
	Head        int64
	Next        int64
	Complete    bool
	Duplicate   bool
	Code        []byte
	Message     []byte
	// Messages is the raw array of a sync's messages frame.
	Messages []byte
}

// parseFrame fills f from the JSON object b. Unknown members are skipped.
func parseFrame(b []byte, f *frame) error {
	*f = frame{}
	return eachField(b, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "type":
			f.Type, err = strVal(val)
		case "chatroomId":
			f.Room, err = strVal(val)
		case "index":
			f.Index, err = intVal(val)
		case "userId":
			f.UserID, err = strVal(val)
		case "chatMessage":
			f.ChatMessage, err = strVal(val)
		case "clientMsgId":
			f.ClientMsgID, err = strVal(val)
		case "head":
			f.Head, err = intVal(val)
		case "next":
			f.Next, err = intVal(val)
		case "complete":
			f.Complete, err = boolVal(val)
		case "duplicate":
			f.Duplicate, err = boolVal(val)
		case "code":
			f.Code, err = strVal(val)
		case "message":
			f.Message, err = strVal(val)
		case "messages":
			f.Messages = val
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		return nil
	})
}

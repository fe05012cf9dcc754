package tripsense

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting CheckJSON follows; no input of ours nests
// more than two levels.
const maxJSONDepth = 32

// CheckJSON refuses what encoding/json lets through silently, so that every
// JSON input (WebSocket frames, HTTP bodies, token claims) means exactly what
// it says:
//
//   - bytes that are not UTF-8 (encoding/json turns them into U+FFFD);
//   - an object that names a member twice (encoding/json keeps the last);
//   - a top-level member whose name differs from one of fields only in
//     letter case (encoding/json would match it to that field).
//
// Members that are not in fields and match none of them in another case are
// left to the caller (refused by a strict decoder, ignored by a lenient
// one). CheckJSON does not check JSON syntax: run it after the decoder
// accepted data. It returns an *Error with code EINVALID and allocates only
// for escaped member names and objects of more than 16 members.
func CheckJSON(data []byte, fields []string) error {
	if !utf8.Valid(data) {
		return Errorf(EINVALID, "JSON must be valid UTF-8")
	}
	s := jsonScanner{b: data}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '{' {
		return s.object(1, fields)
	}
	return s.value(0)
}

// JSONFieldNames returns the JSON member names of the fields of struct type
// t (the name in the json tag, else the field name), for CheckJSON. Results
// are cached per type.
func JSONFieldNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	if v, ok := fieldNames.Load(t); ok {
		return v.([]string)
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	fieldNames.Store(t, names)
	return names
}

var fieldNames sync.Map // reflect.Type -> []string

// JSONStringMember returns the value of the top-level string member key of
// the JSON object data, best effort: for echoing a request's fields in an
// answer without decoding it (it reports false on anything unexpected).
func JSONStringMember(data []byte, key string) (string, bool) {
	v, ok := jsonStringMemberValue(data, key)
	return string(v), ok
}

// JSONStringMemberIn is JSONStringMember for a value expected to be one of
// names: it returns the name the value equals, and false when it equals
// none (or on anything unexpected). It allocates nothing for a value
// without escapes (the metrics and the reader's send check call it for
// every frame).
func JSONStringMemberIn(data []byte, key string, names []string) (string, bool) {
	v, ok := jsonStringMemberValue(data, key)
	if !ok {
		return "", false
	}
	for _, n := range names {
		if string(v) == n {
			return n, true
		}
	}
	return "", false
}

// jsonStringMemberValue is the unquoted value of the top-level string
// member key: a part of data when it has no escapes (nothing allocated).
func jsonStringMemberValue(data []byte, key string) ([]byte, bool) {
	raw, esc, ok := jsonStringMember(data, key)
	switch {
	case !ok:
		return nil, false
	case !esc:
		return raw[1 : len(raw)-1], true
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return []byte(v), true
}

// jsonStringMember finds the top-level string member key of the JSON
// object data: raw is its JSON text, quotes included, and esc tells
// whether it has escapes.
func jsonStringMember(data []byte, key string) (raw []byte, esc, ok bool) {
	s := jsonScanner{b: data}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return nil, false, false
	}
	s.i++
	for n := 0; n < len(data); n++ { // bounded: every round consumes input
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return nil, false, false
		}
		name, esc, ok := s.str()
		if !ok {
			return nil, false, false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return nil, false, false
		}
		s.i++
		s.space()
		if !esc && string(name) == key && s.i < len(s.b) && s.b[s.i] == '"' {
			start := s.i
			if _, esc, ok = s.str(); !ok {
				return nil, false, false
			}
			return s.b[start:s.i], esc, true
		}
		if s.value(1) != nil {
			return nil, false, false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ',' {
			return nil, false, false
		}
		s.i++
	}
	return nil, false, false
}

// jsonScanner walks JSON text that a decoder already accepted; on anything
// else it stops with an error instead of reading out of bounds.
type jsonScanner struct {
	b []byte
	i int
}

func errJSONSyntax() error { return Errorf(EINVALID, "invalid JSON") }

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str scans the string at s.i (an opening quote) and returns its raw
// content and whether it contains escapes.
func (s *jsonScanner) str() (raw []byte, escaped bool, ok bool) {
	s.i++
	start := s.i
	for s.i < len(s.b) {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			return nil, false, false
		}
		end := s.i + j
		k := end
		for k > start && s.b[k-1] == '\\' {
			k--
		}
		s.i = end + 1
		if (end-k)%2 == 0 { // the quote is not escaped
			raw = s.b[start:end]
			return raw, bytes.IndexByte(raw, '\\') >= 0, true
		}
	}
	return nil, false, false
}

func (s *jsonScanner) value(depth int) error {
	if depth > maxJSONDepth {
		return Errorf(EINVALID, "JSON is nested more than %d levels deep", maxJSONDepth)
	}
	s.space()
	if s.i >= len(s.b) {
		return errJSONSyntax()
	}
	switch s.b[s.i] {
	case '{':
		return s.object(depth+1, nil)
	case '[':
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for s.i < len(s.b) {
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.space()
			if s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				return nil
			}
			if s.i >= len(s.b) || s.b[s.i] != ',' {
				return errJSONSyntax()
			}
			s.i++
		}
		return errJSONSyntax()
	case '"':
		if _, _, ok := s.str(); !ok {
			return errJSONSyntax()
		}
		return nil
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return errJSONSyntax()
				}
				return nil
			}
			s.i++
		}
		if s.i == start {
			return errJSONSyntax()
		}
		return nil
	}
}

// object scans the object at s.i, refusing repeated member names and, when
// fields is set, names that match a field only when letter case is ignored.
func (s *jsonScanner) object(depth int, fields []string) error {
	if depth > maxJSONDepth {
		return Errorf(EINVALID, "JSON is nested more than %d levels deep", maxJSONDepth)
	}
	s.i++ // '{'
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	var (
		small [16][]byte
		n     int
		many  map[string]struct{}
	)
	for s.i < len(s.b) {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return errJSONSyntax()
		}
		start := s.i
		name, esc, ok := s.str()
		if !ok {
			return errJSONSyntax()
		}
		if esc {
			var v string
			if json.Unmarshal(s.b[start:s.i], &v) != nil {
				return errJSONSyntax()
			}
			name = []byte(v)
		}
		switch {
		case many != nil:
			if _, dup := many[string(name)]; dup {
				return errDuplicate(name)
			}
			many[string(name)] = struct{}{}
		default:
			for _, prev := range small[:n] {
				if bytes.Equal(prev, name) {
					return errDuplicate(name)
				}
			}
			if n < len(small) {
				small[n] = name
				n++
				break
			}
			many = make(map[string]struct{}, 2*len(small))
			for _, prev := range small {
				many[string(prev)] = struct{}{}
			}
			many[string(name)] = struct{}{}
		}
		if fields != nil {
			if err := checkCase(name, fields); err != nil {
				return err
			}
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errJSONSyntax()
		}
		s.i++
		if err := s.value(depth); err != nil {
			return err
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		if s.i >= len(s.b) || s.b[s.i] != ',' {
			return errJSONSyntax()
		}
		s.i++
	}
	return errJSONSyntax()
}

func errDuplicate(name []byte) error {
	return Errorf(EINVALID, "field %s is given more than once", quoteName(name))
}

func checkCase(name []byte, fields []string) error {
	for _, f := range fields {
		if string(name) == f {
			return nil
		}
	}
	for _, f := range fields {
		if bytes.EqualFold(name, []byte(f)) {
			return Errorf(EINVALID, "unknown field %s: field names are case-sensitive (did you mean %q?)", quoteName(name), f)
		}
	}
	return nil
}

// quoteName quotes a member name for an error message, shortened.
func quoteName(name []byte) string {
	if len(name) > 64 {
		name = name[:64]
	}
	return strconv.Quote(string(name))
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"strings"

	"github.com/tripsense/tripsense"
)

// writeJSON answers with status and v encoded by encoding/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own response types get here; they always encode
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	writeRaw(w, status, append(b, '\n'))
}

// writeRaw answers with status and the JSON document b.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b) // a client that went away is not an error of ours
}

// setJSONHeaders sets the headers of every JSON answer.
func setJSONHeaders(h http.Header) {
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// decodeJSON decodes the request body into dst strictly: Content-Type
// application/json, at most s.maxBody bytes (413), exactly one JSON value
// (trailing data is 400), no unknown fields (400), and, beyond what
// encoding/json checks, field names in their exact case, no field given
// twice and only valid UTF-8 (tripsense.CheckJSON, 400).
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return tripsense.Errorf(codeUnsupportedMediaType, "Content-Type must be application/json")
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.maxBody), make([]byte, 0, 512))
	if err != nil {
		return s.readError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return s.bodyError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return tripsense.Errorf(tripsense.EINVALID, "request body must be a single JSON object")
	}
	if err := tripsense.CheckJSON(body, tripsense.JSONFieldNames(reflect.TypeOf(dst))); err != nil {
		return tripsense.Errorf(tripsense.EINVALID, "request body: %s", tripsense.ErrorMessage(err))
	}
	return nil
}

// readAll appends everything r yields to dst.
func readAll(r io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// readError turns an error reading the body into an *tripsense.Error
// that names no address or internal state.
func (s *server) readError(err error) error {
	var netErr net.Error
	switch {
	case isTooLarge(err):
		return tripsense.Errorf(tripsense.ETOOLARGE, "request body is over %d bytes", s.maxBody)
	case errors.As(err, &netErr) && netErr.Timeout():
		return tripsense.Errorf(tripsense.EINVALID, "request body did not arrive within the server's read timeout")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return tripsense.Errorf(tripsense.EINVALID, "request body is shorter than its Content-Length")
	}
	return tripsense.Errorf(tripsense.EINVALID, "request body could not be read")
}

// bodyError turns a decoding error into an *tripsense.Error with a message
// that helps the client and reveals nothing of ours.
func (s *server) bodyError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return tripsense.Errorf(tripsense.EINVALID, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return tripsense.Errorf(tripsense.EINVALID, "request body is truncated JSON")
	case errors.As(err, &syn):
		return tripsense.Errorf(tripsense.EINVALID, "request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return tripsense.Errorf(tripsense.EINVALID, "request body must be a JSON object")
		}
		return tripsense.Errorf(tripsense.EINVALID, "field %s must be %s", typ.Field, typeName(typ.Type.String()))
	}
	// What remains with DisallowUnknownFields is `json: unknown field "x"`;
	// encoding/json has no type for it, so its text is shown as it is.
	return tripsense.Errorf(tripsense.EINVALID, "request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func typeName(goType string) string {
	switch goType {
	case "int64", "int":
		return "an integer"
	case "string":
		return "a string"
	}
	return fmt.Sprintf("of type %s", goType)
}

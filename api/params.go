package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/tripsense/tripsense"
)

// query parses the raw query strictly (a malformed escape is 400) and
// refuses any of names given more than once.
func query(r *http.Request, names ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, tripsense.Errorf(tripsense.EINVALID, "malformed query string")
	}
	for _, n := range names {
		if len(q[n]) > 1 {
			return nil, tripsense.Errorf(tripsense.EINVALID, "%s given more than once", n)
		}
	}
	return q, nil
}

// uintParam parses the query parameter name as 0 to 19 decimal digits;
// ok is false when it is absent.
func uintParam(q url.Values, name string) (v int64, ok bool, err error) {
	vs, ok := q[name]
	if !ok {
		return 0, false, nil
	}
	s := vs[0]
	valid := len(s) > 0 && len(s) <= 19
	for i := 0; valid && i < len(s); i++ {
		valid = s[i] >= '0' && s[i] <= '9'
	}
	if valid {
		v, err = strconv.ParseInt(s, 10, 64)
		valid = err == nil
	}
	if !valid {
		return 0, true, tripsense.Errorf(tripsense.EINVALID, "%s must be a non-negative integer", name)
	}
	return v, true, nil
}

// limitParam returns the page size: 0 (the service's default) when absent,
// 1..MaxPageLimit when given, 400 otherwise.
func limitParam(q url.Values) (int, error) {
	v, ok, err := uintParam(q, "limit")
	if ok && (err != nil || v < 1 || v > tripsense.MaxPageLimit) {
		return 0, tripsense.Errorf(tripsense.EINVALID, "limit must be an integer between 1 and %d", tripsense.MaxPageLimit)
	}
	return int(v), nil
}

// idParam returns the path parameter name if it is a valid id, else 400.
func idParam(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if !tripsense.ValidID(v) {
		return "", tripsense.Errorf(tripsense.EINVALID, "%s must be 1-%d characters of [A-Za-z0-9_.:@-]", name, tripsense.MaxIDLen)
	}
	return v, nil
}

// principal returns the caller; identify guarantees one on every /v1 route.
func principal(r *http.Request) (tripsense.Principal, error) {
	p, ok := tripsense.PrincipalFrom(r.Context())
	if !ok {
		return p, tripsense.Errorf(tripsense.EINTERNAL, "no principal in context")
	}
	return p, nil
}

// roomRequest reads what every /v1/rooms/{room}/... handler starts with:
// the caller and the room id. On an error it has answered it and ok is
// false.
func (s *server) roomRequest(w http.ResponseWriter, r *http.Request) (p tripsense.Principal, room string, ok bool) {
	p, err := principal(r)
	if err != nil {
		s.writeError(w, r, err)
		return p, "", false
	}
	if room, err = idParam(r, "room"); err != nil {
		s.writeError(w, r, err)
		return p, "", false
	}
	return p, room, true
}

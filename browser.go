package tripsense

import (
	"net/url"
	"slices"
	"strings"
)

// Subprotocol is the WebSocket subprotocol of Tripsense's frame protocol. A
// client that offers subprotocols (Sec-WebSocket-Protocol; browsers do when
// the page passes them to new WebSocket) must offer this one, and the
// server selects it.
const Subprotocol = "tripsense.v1"

// SelectSubprotocol applies the subprotocol rule to the values of a
// request's Sec-WebSocket-Protocol header (each a comma-separated list of
// tokens). It returns "" when nothing was offered, Subprotocol when it was
// offered, and an EINVALID error when the header is malformed or offers
// only other subprotocols: the upgrade is then refused with 400.
func SelectSubprotocol(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	found := false
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			p = strings.Trim(p, " \t")
			if !isHTTPToken(p) {
				return "", Errorf(EINVALID, "Sec-WebSocket-Protocol must be a comma-separated list of subprotocol names; this server speaks %s", Subprotocol)
			}
			found = found || p == Subprotocol
		}
	}
	if !found {
		return "", Errorf(EINVALID, "this server speaks the subprotocol %s only: offer it in Sec-WebSocket-Protocol, or offer none", Subprotocol)
	}
	return Subprotocol, nil
}

// isHTTPToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Origins is the browser-origin rule, the one place it lives: the local
// WebSocket server, the HTTP API's CORS and the AWS $connect check all ask
// it. The zero value allows no other origin: same-origin pages and clients
// that send no Origin (apps, curl, wscat) only.
//
// An allowed origin is exact: scheme://host[:port] as a browser sends it in
// the Origin header (lower case, no path, the port only when it is not the
// scheme's default). "*" allows every origin on the HTTP API, which never
// honours cookies or other ambient credentials (a caller must present its
// token itself); it does not open the WebSocket endpoint, whose Origin
// check stays the exact list.
type Origins struct {
	exact []string
	any   bool
}

// ParseOrigins parses a comma-separated list of allowed origins
// (--allowed-origins, TRIPSENSE_ALLOWED_ORIGINS). Blank entries are
// skipped; an empty list gives the zero Origins. An entry that is not "*"
// or scheme://host[:port] with scheme http or https is an EINVALID error
// that names it.
func ParseOrigins(list string) (Origins, error) {
	var o Origins
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case e == "*":
			o.any = true
			continue
		}
		norm, err := normalizeOrigin(e)
		if err != nil {
			return Origins{}, err
		}
		if !slices.Contains(o.exact, norm) {
			o.exact = append(o.exact, norm)
		}
	}
	return o, nil
}

func normalizeOrigin(e string) (string, error) {
	bad := func(why string) error {
		return Errorf(EINVALID, "allowed origin %q: %s (want scheme://host[:port], e.g. https://app.example.com)", e, why)
	}
	u, err := url.Parse(e)
	switch {
	case err != nil:
		return "", bad("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return "", bad("no host")
	case u.User != nil:
		return "", bad("no user info")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(e, "#"):
		return "", bad("an origin has no path, query or fragment (not even a trailing /)")
	case strings.Contains(u.Host, "*"):
		return "", bad("no wildcards: list each origin")
	}
	host := strings.ToLower(u.Host)
	// Browsers leave out the scheme's default port.
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return u.Scheme + "://" + host, nil
}

// Any reports whether "*" was listed (every origin, HTTP API only).
func (o Origins) Any() bool { return o.any }

// List returns the exact allowed origins, normalized, in the order given.
func (o Origins) List() []string { return slices.Clone(o.exact) }

// Empty reports whether nothing was listed.
func (o Origins) Empty() bool { return !o.any && len(o.exact) == 0 }

// String is the list as ParseOrigins reads it.
func (o Origins) String() string {
	all := o.List()
	if o.any {
		all = append(all, "*")
	}
	return strings.Join(all, ",")
}

// listed reports whether origin (an Origin header) is one of the exact
// entries. Scheme and host compare without regard to case.
func (o Origins) listed(origin string) bool {
	origin = strings.ToLower(origin)
	return slices.Contains(o.exact, origin)
}

// AllowsCORS reports whether the HTTP API answers a cross-origin request
// from origin (an Origin header) with CORS headers: "*" or an exact entry.
func (o Origins) AllowsCORS(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	return o.any || o.listed(origin)
}

// AllowsWebSocket reports whether a WebSocket upgrade with the Origin header
// origin, addressed to host (the Host header), is allowed: no Origin (not a
// browser), the same origin (the Origin's host and port equal the Host), or
// an exact entry. "*" does not count here. Anything else is refused with
// 403: a page of another site must not open a socket that a browser might
// authenticate for it (the CSRF defence of the WebSocket endpoint).
func (o Origins) AllowsWebSocket(origin, host string) bool {
	if origin == "" {
		return true
	}
	if o.listed(origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// CheckIdentityMode refuses "*" in dev identity mode: there any caller may
// name any user, so every site on the web could read and write as anyone
// through a visitor's browser. Exact origins stay possible (a web client on
// a local development server).
func (o Origins) CheckIdentityMode(devIdentity bool) error {
	if devIdentity && o.any {
		return Errorf(EINVALID, `allowed origins: "*" is refused in dev identity mode (any page could act as any user); list exact origins`)
	}
	return nil
}

package tripsense_test

import (
	"strings"
	"testing"

	"github.com/tripsense/tripsense"
)

func TestParseOrigins(t *testing.T) {
	t.Parallel()
	o, err := tripsense.ParseOrigins(" https://App.Example.com , http://localhost:5173,,https://app.example.com:443,https://app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := o.String(); got != "https://app.example.com,http://localhost:5173" {
		t.Fatalf("normalized %q", got)
	}
	if o.Any() || o.Empty() {
		t.Fatalf("any %v empty %v", o.Any(), o.Empty())
	}
	if z, err := tripsense.ParseOrigins(""); err != nil || !z.Empty() {
		t.Fatalf("empty list: %v %v", z, err)
	}
	if a, err := tripsense.ParseOrigins("*"); err != nil || !a.Any() {
		t.Fatalf("*: %v %v", a, err)
	}
	for _, bad := range []string{
		"app.example.com", "https://app.example.com/", "https://app.example.com/path", "ftp://x.example",
		"https://*.example.com", "https://user@app.example.com", "https://app.example.com?x=1", "https://", "null",
		"https://app.example.com#",
	} {
		_, err := tripsense.ParseOrigins("https://ok.example," + bad)
		if tripsense.ErrorCode(err) != tripsense.EINVALID || !strings.Contains(tripsense.ErrorMessage(err), bad) {
			t.Errorf("%q: %v, want bad_request naming it", bad, err)
		}
	}
}

func TestOriginsRule(t *testing.T) {
	t.Parallel()
	o, _ := tripsense.ParseOrigins("https://app.example.com,http://localhost:5173")
	var none tripsense.Origins
	star, _ := tripsense.ParseOrigins("*")
	const host = "chat.example.com"
	for _, tc := range []struct {
		o        tripsense.Origins
		origin   string
		ws, cors bool
	}{
		{none, "", true, false},                         // not a browser
		{none, "https://chat.example.com", true, false}, // same origin
		{none, "http://CHAT.example.com", true, false},  // same host, any case
		{none, "https://app.example.com", false, false},
		{o, "https://app.example.com", true, true},
		{o, "https://APP.example.com", true, true},
		{o, "http://app.example.com", false, false}, // the scheme is part of the origin
		{o, "https://app.example.com:8443", false, false},
		{o, "http://localhost:5173", true, true},
		{o, "https://evil.example", false, false},
		{o, "null", false, false},
		{star, "https://evil.example", false, true}, // * is for the HTTP API only
		{star, "null", false, false},
	} {
		if got := tc.o.AllowsWebSocket(tc.origin, host); got != tc.ws {
			t.Errorf("%v: WebSocket from %q: %v, want %v", tc.o, tc.origin, got, tc.ws)
		}
		if got := tc.o.AllowsCORS(tc.origin); got != tc.cors {
			t.Errorf("%v: CORS from %q: %v, want %v", tc.o, tc.origin, got, tc.cors)
		}
	}
	if err := star.CheckIdentityMode(true); tripsense.ErrorCode(err) != tripsense.EINVALID {
		t.Errorf("* in dev mode: %v", err)
	}
	if star.CheckIdentityMode(false) != nil || o.CheckIdentityMode(true) != nil {
		t.Error("exact origins, or * in token mode, refused")
	}
}

func TestSelectSubprotocol(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		offered []string
		want    string
		ok      bool
	}{
		{nil, "", true},
		{[]string{"tripsense.v1"}, "tripsense.v1", true},
		{[]string{"chat, tripsense.v1"}, "tripsense.v1", true},
		{[]string{"chat", "tripsense.v1"}, "tripsense.v1", true},
		{[]string{"chat"}, "", false},
		{[]string{"Tripsense.V1"}, "", false}, // subprotocol names are exact
		{[]string{"tripsense.v1,"}, "", false},
		{[]string{"tripsense v1"}, "", false},
		{[]string{""}, "", false},
	} {
		got, err := tripsense.SelectSubprotocol(tc.offered)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("%q: %q, %v", tc.offered, got, err)
		}
		if err != nil && tripsense.ErrorCode(err) != tripsense.EINVALID {
			t.Errorf("%q: code %s", tc.offered, tripsense.ErrorCode(err))
		}
	}
}

package ws_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func mint(t *testing.T, tk *auth.Token, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := tk.Mint(user, ttl, false)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func expiresAt(t *testing.T, f *fixture, id string) time.Time {
	t.Helper()
	c, err := f.hub.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.ExpiresAt
}

// TestAuthFrameReplacesTheTokenInPlace: {"action":"auth","token":T} of the
// connection's user moves the connection's expiry to T's exp and answers
// authed; a token of another user, a broken or expired one, or none is
// answered with an error frame and the connection keeps its expiry.
func TestAuthFrameReplacesTheTokenInPlace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	tk, err := auth.NewToken(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Auth = tk
	old := time.Now().Add(time.Minute).Truncate(time.Second)
	if err := f.svc.Connect(context.Background(), tripsense.Connection{ID: "c1", UserID: "uuid1", ConnectedAt: time.Now(), ExpiresAt: old}); err != nil {
		t.Fatal(err)
	}
	u1 := ws.Conn{ID: "c1", UserID: "uuid1"}
	if err := f.hub.SetExpiry(context.Background(), "c1", old); err != nil {
		t.Fatal(err)
	}

	f.send(t, u1, `{"action":"auth","token":"`+mint(t, tk, "uuid1", 2*time.Hour)+`"}`)
	a := onlyFrame(t, f.rec.take("c1"), "authed")
	exp := int64(a["exp"].(float64))
	if a["userId"] != "uuid1" || time.Until(time.Unix(exp, 0)) < 119*time.Minute {
		t.Fatalf("authed = %v", a)
	}
	if got := expiresAt(t, f, "c1"); got.Unix() != exp {
		t.Fatalf("connection expires at %v, want the new token's exp %v", got, time.Unix(exp, 0))
	}

	expired := &auth.Token{Secret: []byte(testSecret), Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	other := &auth.Token{Secret: []byte("another secret of thirty-two bytes!!")}
	for _, c := range []struct{ name, frame, code string }{
		{"another user's token", `{"action":"auth","token":"` + mint(t, tk, "uuid2", time.Hour) + `"}`, tripsense.EFORBIDDEN},
		{"an expired token", `{"action":"auth","token":"` + mint(t, expired, "uuid1", time.Minute) + `"}`, tripsense.EUNAUTHORIZED},
		{"a token of another secret", `{"action":"auth","token":"` + mint(t, other, "uuid1", time.Hour) + `"}`, tripsense.EUNAUTHORIZED},
		{"garbage", `{"action":"auth","token":"not.a.jwt"}`, tripsense.EUNAUTHORIZED},
		{"no token", `{"action":"auth"}`, tripsense.EINVALID},
		{"a token of the wrong type", `{"action":"auth","token":42}`, tripsense.EINVALID},
		{"someone else's userId", `{"action":"auth","userId":"uuid2","token":"` + mint(t, tk, "uuid2", time.Hour) + `"}`, tripsense.EFORBIDDEN},
	} {
		f.send(t, u1, c.frame)
		e := onlyFrame(t, f.rec.take("c1"), "error")
		if e["code"] != c.code {
			t.Errorf("%s: %v, want %s", c.name, e, c.code)
		}
		if got := expiresAt(t, f, "c1"); got.Unix() != exp {
			t.Errorf("%s moved the expiry to %v", c.name, got)
		}
	}
	// The connection still works.
	f.send(t, u1, `{"action":"ping"}`)
	onlyFrame(t, f.rec.take("c1"), "pong")
}

// TestAuthFrameInDevModeIsRefused: without a token authenticator there is
// no token to refresh.
func TestAuthFrameInDevModeIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	u1 := f.connect(t, "c1", "uuid1")
	f.send(t, u1, `{"action":"auth","token":"x"}`)
	if e := onlyFrame(t, f.rec.take("c1"), "error"); e["code"] != tripsense.EINVALID || e["action"] != "auth" {
		t.Fatalf("got %v", e)
	}
}

// budgets records the budget each frame was charged to.
type budgets struct{ got []ws.Budget }

func (b *budgets) Allow(_ string, bu ws.Budget) (bool, time.Duration) {
	b.got = append(b.got, bu)
	return true, 0
}

// TestAuthFrameSpendsTheControlBudget: an auth frame is a control frame.
func TestAuthFrameSpendsTheControlBudget(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	lim := &budgets{}
	f.svc.Limiter = lim
	u1 := f.connect(t, "c1", "uuid1")
	f.send(t, u1, `{"action":"auth","token":"x"}`)
	if len(lim.got) != 1 || lim.got[0] != ws.BudgetControl {
		t.Fatalf("budgets %v, want [control]", lim.got)
	}
	// And an exhausted control budget refuses it with retryAfterMs.
	hub := local.NewHub(local.HubOptions{ControlRate: 0.001, ControlBurst: 1})
	f.svc.Presence, f.rec.presence, f.svc.Limiter = hub, hub, hub
	u2 := f.connect(t, "c2", "uuid2")
	f.send(t, u2, `{"action":"ping"}`)
	onlyFrame(t, f.rec.take("c2"), "pong")
	f.send(t, u2, `{"action":"auth","token":"x"}`)
	if e := onlyFrame(t, f.rec.take("c2"), "error"); e["code"] != tripsense.ERATELIMITED || e["retryAfterMs"] == nil {
		t.Fatalf("got %v", e)
	}
}

// TestCheckFirstFrame: before its auth frame a connection gets an
// unauthorized error for every other frame (echoing action and
// clientMsgId) and stays; a valid auth frame authenticates it; an auth
// frame with a broken, expired or missing token, or with a userId, closes
// it with 4401; so does the frame after MaxUnauthenticatedFrames.
func TestCheckFirstFrame(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	tk, _ := auth.NewToken(testSecret)
	f.svc.Auth = tk
	ctx := context.Background()
	if !f.svc.FirstFrameAuth() {
		t.Fatal("token mode must take first-frame authentication")
	}
	ok := f.svc.CheckFirstFrame(ctx, []byte(`{"action":"auth","token":"`+mint(t, tk, "uuid1", time.Hour)+`"}`), 0)
	if !ok.Authenticated || ok.Close || ok.Reply != nil || ok.Principal.UserID != "uuid1" || ok.Principal.Expires.IsZero() {
		t.Fatalf("valid auth frame: %+v", ok)
	}
	for _, frame := range []string{
		`{"action":"ping"}`,
		`{"action":"sendMessage","chatroomId":"uuidroom1","chatMessage":"hi","clientMsgId":"m-1"}`,
		`{"action":"sync"}`,
		`not json`,
		`{"token":"x"}`,
	} {
		v := f.svc.CheckFirstFrame(ctx, []byte(frame), 3)
		if v.Authenticated || v.Close || v.Reply == nil {
			t.Fatalf("%s: %+v, want a reply only", frame, v)
		}
		e := decode(t, v.Reply)
		if e["type"] != "error" || e["code"] != tripsense.EUNAUTHORIZED {
			t.Fatalf("%s: reply %s", frame, v.Reply)
		}
		if frame[2] == 'a' && e["action"] == nil {
			t.Errorf("%s: reply %s does not echo the action", frame, v.Reply)
		}
	}
	if e := decode(t, f.svc.CheckFirstFrame(ctx, []byte(`{"action":"sendMessage","clientMsgId":"m-1"}`), 0).Reply); e["clientMsgId"] != "m-1" {
		t.Errorf("reply %v does not echo clientMsgId", e)
	}
	expired, _ := tk.Mint("uuid1", -time.Minute, false)
	for frame, want := range map[string]string{
		`{"action":"auth","token":"not.a.jwt"}`:       "unauthorized: ",
		`{"action":"auth","token":"` + expired + `"}`: "unauthorized: ",
		`{"action":"auth"}`:                           `unauthorized: auth needs "token"`,
		`{"action":"auth","userId":"uuid1","token":"` + mint(t, tk, "uuid1", time.Hour) + `"}`: `unauthorized: the auth frame takes no "userId"`,
	} {
		v := f.svc.CheckFirstFrame(ctx, []byte(frame), 0)
		if !v.Close || v.Code != ws.CloseUnauthorized || v.Authenticated || len(v.Reason) > 123 || v.Reason[:len(want)] != want {
			t.Errorf("%s: %+v, want close 4401 %q...", frame, v, want)
		}
	}
	v := f.svc.CheckFirstFrame(ctx, []byte(`{"action":"ping"}`), ws.MaxUnauthenticatedFrames)
	if !v.Close || v.Code != ws.CloseUnauthorized {
		t.Fatalf("frame %d: %+v, want close 4401", ws.MaxUnauthenticatedFrames+1, v)
	}
	// Nothing joined presence.
	if n := f.hub.Len(); n != 0 {
		t.Fatalf("%d connections registered by first frames", n)
	}
}

// TestFirstFrameAuthNeedsTokenMode: in dev identity mode (no Auth) a
// connection cannot open without its userId.
func TestFirstFrameAuthNeedsTokenMode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ws.Replace)
	if f.svc.FirstFrameAuth() {
		t.Fatal("dev mode offers first-frame authentication")
	}
}

// TestRefusalClose maps refusals to the close codes a browser can read.
func TestRefusalClose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		code   int
		reason string
	}{
		{tripsense.Errorf(tripsense.EUNAUTHORIZED, "token expired"), ws.CloseUnauthorized, "unauthorized: token expired"},
		{tripsense.Errorf(tripsense.ECONFLICT, "user u is already connected"), ws.CloseConflict, "conflict: user u is already connected"},
		{tripsense.Errorf(tripsense.ERATELIMITED, "user u already has 10 connections (the limit)"), ws.CloseTooMany, "rate_limited: user u already has 10 connections (the limit)"},
		{tripsense.Errorf(tripsense.EINVALID, "invalid userId"), ws.CloseBadRequest, "bad_request: invalid userId"},
		{context.DeadlineExceeded, ws.CloseInternal, "internal: internal error; retry later"},
	} {
		code, reason := ws.RefusalClose(tc.err)
		if code != tc.code || reason != tc.reason {
			t.Errorf("%v: %d %q, want %d %q", tc.err, code, reason, tc.code, tc.reason)
		}
	}
	// A long message is cut to a close frame's 123 bytes, whole runes.
	_, reason := ws.RefusalClose(tripsense.Errorf(tripsense.ECONFLICT, "%s", strings.Repeat("ü", 100)))
	if len(reason) > 123 || !utf8.ValidString(reason) || !strings.HasSuffix(reason, "...") {
		t.Errorf("long reason %q (%d bytes)", reason, len(reason))
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

package ws_test

import (
	"context"
	"testing"
	"time"

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

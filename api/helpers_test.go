package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
	"github.com/tripsense/tripsense/ws/local"
)

// fakeAuth behaves like the dev authenticator (the user id is trusted,
// "admin" is an admin) and accepts one bearer token, "good-token", for
// user "tokenuser".
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, c tripsense.Credentials) (tripsense.Principal, error) {
	switch {
	case c.Token == "good-token":
		return tripsense.Principal{UserID: "tokenuser"}, nil
	case c.Token != "":
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, "invalid token")
	case c.UserID == "":
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, "userId is required")
	case c.UserID == "authdown":
		return tripsense.Principal{}, errBoom
	case !tripsense.ValidID(c.UserID):
		return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, "invalid userId")
	}
	return tripsense.Principal{UserID: c.UserID, Admin: c.UserID == "admin"}, nil
}

var errBoom = &boomError{}

type boomError struct{}

func (*boomError) Error() string { return "secret-detail: table tripsense-prod-messages throttled" }

// members is a MemberManager over the store. Some user ids trigger
// failures, so that the error table can be driven through a real route.
type members struct {
	st *memory.Store
}

func (m members) fail(user string) error {
	switch user {
	case "conflict":
		return tripsense.Errorf(tripsense.ECONFLICT, "membership changed concurrently")
	case "unprocessable":
		return tripsense.Errorf(tripsense.EUNPROCESSABLE, "room is archived")
	case "ratelimited":
		return tripsense.Errorf(tripsense.ERATELIMITED, "slow down")
	case "notfound":
		return tripsense.Errorf(tripsense.ENOTFOUND, "no such user")
	case "broken":
		return errBoom
	case "weird":
		return tripsense.Errorf("no_such_code", "secret-detail")
	case "panic":
		panic("secret-detail: nil map")
	}
	return nil
}

// svc is the realtime service over the store with an empty hub: the
// room rules (owner, admin, member) are the service's, not the API's.
func (m members) svc() *ws.Service {
	hub := local.NewHub(local.HubOptions{})
	return &ws.Service{Store: m.st, Presence: hub, Pusher: hub, Catchup: &catchup.Service{Store: m.st}}
}

func (m members) AddMemberAs(ctx context.Context, by tripsense.Principal, room, user string) error {
	if err := m.fail(user); err != nil {
		return err
	}
	return m.svc().AddMemberAs(ctx, by, room, user)
}

func (m members) RemoveMemberAs(ctx context.Context, by tripsense.Principal, room, user string) error {
	if err := m.fail(user); err != nil {
		return err
	}
	return m.svc().RemoveMemberAs(ctx, by, room, user)
}

func (m members) CreateRoom(ctx context.Context, by tripsense.Principal, id, name string, ms []string) (tripsense.RoomInfo, error) {
	return m.svc().CreateRoom(ctx, by, id, name, ms)
}

func (m members) Room(ctx context.Context, by tripsense.Principal, room string) (tripsense.RoomState, error) {
	return m.svc().Room(ctx, by, room)
}

func (m members) RoomMembers(ctx context.Context, by tripsense.Principal, room string) ([]tripsense.RoomMember, error) {
	return m.svc().RoomMembers(ctx, by, room)
}

func (m members) UpdateRoom(ctx context.Context, by tripsense.Principal, room string, name, owner *string) (tripsense.RoomInfo, error) {
	return m.svc().UpdateRoom(ctx, by, room, name, owner)
}

func (m members) PostMessage(ctx context.Context, by tripsense.Principal, nm tripsense.NewMessage) (tripsense.Message, bool, error) {
	return m.svc().PostMessage(ctx, by, nm)
}

func (m members) EraseUser(ctx context.Context, user string) (tripsense.Erasure, error) {
	if err := m.fail(user); err != nil {
		return tripsense.Erasure{}, err
	}
	return m.st.EraseUser(ctx, user)
}

// reads is a ReadMarker over the store: the catch-up service's rule,
// without the realtime service's receipts.
type reads struct {
	st *memory.Store
}

func (r reads) MarkRead(ctx context.Context, user, room string, lastRead int64) (tripsense.ReadCursor, error) {
	c, _, err := (&catchup.Service{Store: r.st}).MarkRead(ctx, user, room, lastRead)
	return c, err
}

// lockedBuffer collects log output written from server goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	st   *memory.Store
	srv  *httptest.Server
	logs *lockedBuffer
}

// MustServer starts the API on loopback over a memory store with the
// seed's demo data: uuid1 in uuidroom1 and uuidroom2, uuid2 in uuidroom2
// and uuidroom3; uuidroom1 has 5 messages, uuidroom2 3, uuidroom3 4.
func MustServer(tb testing.TB, ready func() bool) *fixture {
	tb.Helper()
	ctx := context.Background()
	st := memory.New()
	for _, m := range [][2]string{{"uuidroom1", "uuid1"}, {"uuidroom2", "uuid1"}, {"uuidroom2", "uuid2"}, {"uuidroom3", "uuid2"}} {
		if err := st.AddMember(ctx, m[0], m[1]); err != nil {
			tb.Fatal(err)
		}
	}
	for room, n := range map[string]int{"uuidroom1": 5, "uuidroom2": 3, "uuidroom3": 4} {
		for range n {
			if _, _, err := st.Append(ctx, tripsense.NewMessage{Room: room, UserID: "uuid2", Body: "hello", Type: "text message"}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	logs := &lockedBuffer{}
	h := api.New(api.Config{
		Sync:    &catchup.Service{Store: st},
		Members: members{st},
		Reads:   reads{st},
		Auth:    fakeAuth{},
		Log:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Ready:   ready,
	})
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &fixture{st: st, srv: srv, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// MustDo sends one request; header pairs are name, value, name, value...
func (f *fixture) MustDo(tb testing.TB, method, path, body string, header ...string) response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// errorOf decodes an error body strictly; ok is false if it is not one.
func errorOf(b []byte) (code, msg string, ok bool) {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		return "", "", false
	}
	return e.Error.Code, e.Error.Message, true
}

func tripsenseMsg(room string) tripsense.NewMessage {
	return tripsense.NewMessage{Room: room, UserID: "uuid2", Body: "hello", Type: "text message"}
}

// failingSync is a SyncService whose every method fails with err.
type failingSync struct{ err error }

func (f failingSync) WriteSync(context.Context, io.Writer, string, string, map[string]int64, int) error {
	return f.err
}

func (f failingSync) WriteHistory(context.Context, io.Writer, string, string, int64, int64, int) error {
	return f.err
}

func (f failingSync) Rooms(context.Context, string) ([]catchup.RoomSummary, error) { return nil, f.err }

func (f failingSync) Receipts(context.Context, string, string) ([]tripsense.ReadCursor, error) {
	return nil, f.err
}

// serve runs one request through h in process.
func serve(h http.Handler, method, path, user string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("X-User-Id", user)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

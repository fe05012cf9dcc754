package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

// SyncService is the catch-up use case the API serves; *catchup.Service
// implements it. Errors are *tripsense.Error values whose codes the API maps
// to statuses. WriteSync and WriteHistory stream their answer's JSON to w
// and report the request's errors before writing anything
// (catchup.Service.WriteSync says when a later error can come).
type SyncService interface {
	WriteSync(ctx context.Context, w io.Writer, user, device string, cursors map[string]int64, limit int) error
	WriteHistory(ctx context.Context, w io.Writer, user, room string, after, before int64, limit int) error
	Rooms(ctx context.Context, user string) ([]catchup.RoomSummary, error)
	Receipts(ctx context.Context, user, room string) ([]tripsense.ReadCursor, error)
}

var _ SyncService = (*catchup.Service)(nil)

// MemberManager changes room membership. The realtime service implements it,
// because a membership change must also update who receives the room's
// messages. Adding an existing member and removing a non-member are not
// errors.
//
// The rooms users create and the HTTP send are its too: every membership
// change and rename is an entry of the room's log, and a message posted
// over HTTP is handed out like a WebSocket send. The service decides who
// may do what (owner, admin, member); the API only converts.
type MemberManager interface {
	// AddMemberAs and RemoveMemberAs act on behalf of the caller: the
	// room's owner or an admin (and, for a removal, the member itself).
	AddMemberAs(ctx context.Context, by tripsense.Principal, room, user string) error
	RemoveMemberAs(ctx context.Context, by tripsense.Principal, room, user string) error
	CreateRoom(ctx context.Context, by tripsense.Principal, id, name string, members []string) (tripsense.RoomInfo, error)
	Room(ctx context.Context, by tripsense.Principal, room string) (tripsense.RoomState, error)
	RoomMembers(ctx context.Context, by tripsense.Principal, room string) ([]tripsense.RoomMember, error)
	// UpdateRoom renames the room (name), hands it to another member
	// (owner), or both (the owner, admins); all is checked before anything
	// changes.
	UpdateRoom(ctx context.Context, by tripsense.Principal, room string, name, owner *string) (tripsense.RoomInfo, error)
	// PostMessage stores and hands out a message from the caller (its
	// UserID, whatever nm says); duplicate true for a retried clientMsgId.
	PostMessage(ctx context.Context, by tripsense.Principal, nm tripsense.NewMessage) (m tripsense.Message, duplicate bool, err error)
	// EraseUser removes a user's data (every message body, memberships,
	// cursors, receipts, connections) and returns the counts; a second
	// call returns zeros.
	EraseUser(ctx context.Context, user string) (tripsense.Erasure, error)
}

// ReadMarker moves read cursors. The realtime service implements it,
// because a moved read cursor is also pushed to the room's online members
// as a receipt. It checks membership (ENOTMEMBER) and the index (EINVALID).
type ReadMarker interface {
	MarkRead(ctx context.Context, user, room string, lastRead int64) (tripsense.ReadCursor, error)
}

// DefaultMaxBodyBytes is the default cap on a request body.
const DefaultMaxBodyBytes = 16 << 10

// Config is what New needs. Sync, Members, Reads and Auth are required.
type Config struct {
	Sync    SyncService
	Members MemberManager
	Reads   ReadMarker
	Auth    tripsense.Authenticator
	// Log receives one record per internal error (with the request id) and
	// a debug record per request. Nil discards.
	Log *slog.Logger
	// Ready reports whether the server accepts traffic (GET /healthz gives
	// 200 or 503). Nil means always ready.
	Ready func() bool
	// MaxBodyBytes caps request bodies (413 beyond). 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Webhooks, when set, serves GET /v1/webhooks and POST
	// /v1/webhooks/replay (admins); nil answers them 404.
	Webhooks Webhooks
	// RatePerMinute bounds the /v1 requests of one client IP per minute
	// (429 rate_limited beyond, with Retry-After). 0 disables the limit.
	RatePerMinute int
	// Check, when set, is what GET /readyz asks besides Ready: a cheap
	// read of the store (503 with its error when it fails). Nil: Ready
	// alone.
	Check func(ctx context.Context) error
	// Backup, when set, serves GET /v1/admin/backup (admins only): a
	// consistent snapshot of the store (see Backuper). Nil: no route.
	Backup Backuper
	// Epoch, when set, is the store's epoch, sent in the Tripsense-Epoch
	// header of every answer (docs/api.md).
	Epoch string
	// AllowedOrigins are the browser origins the API answers cross-origin
	// (CORS, --allowed-origins). The zero value answers none: same-origin
	// pages and non-browser clients only.
	AllowedOrigins tripsense.Origins
}

// Validate reports a missing required field or a negative body cap.
func (c Config) Validate() error {
	switch {
	case c.Sync == nil:
		return errors.New("api: Config.Sync is required")
	case c.Members == nil:
		return errors.New("api: Config.Members is required")
	case c.Reads == nil:
		return errors.New("api: Config.Reads is required")
	case c.Auth == nil:
		return errors.New("api: Config.Auth is required")
	case c.MaxBodyBytes < 0:
		return errors.New("api: Config.MaxBodyBytes must not be negative")
	case c.RatePerMinute < 0:
		return errors.New("api: Config.RatePerMinute must not be negative")
	}
	return nil
}

// New returns the API's handler. It panics when cfg does not Validate: a
// wiring mistake in main, caught at start-up.
func New(cfg Config) http.Handler {
	return newRouter(cfg)
}

// server holds the dependencies the handlers share.
type server struct {
	sync    SyncService
	members MemberManager
	reads   ReadMarker
	auth    tripsense.Authenticator
	log     *slog.Logger
	ready   func() bool
	maxBody int64
	check   func(ctx context.Context) error
	backup  Backuper
	// webhooks is nil when none are configured
	webhooks Webhooks
}

func newRouter(cfg Config) *chi.Mux {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	s := &server{sync: cfg.Sync, members: cfg.Members, reads: cfg.Reads, auth: cfg.Auth, log: cfg.Log, ready: cfg.Ready, maxBody: cfg.MaxBodyBytes,
		check: cfg.Check, backup: cfg.Backup, webhooks: cfg.Webhooks}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.ready == nil {
		s.ready = func() bool { return true }
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}

	r := chi.NewRouter()
	r.Use(requestID, s.observe)
	if !cfg.AllowedOrigins.Empty() {
		r.Use(corsHandler(cfg.AllowedOrigins))
	}
	if cfg.Epoch != "" {
		r.Use(epochHeader(cfg.Epoch))
	}
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed(r))

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Group(func(r chi.Router) {
		if cfg.RatePerMinute > 0 {
			r.Use(httprate.Limit(cfg.RatePerMinute, time.Minute,
				httprate.WithKeyFuncs(httprate.KeyByIP),
				httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
					s.writeError(w, r, tripsense.Errorf(tripsense.ERATELIMITED, "too many requests: at most %d per minute per client", cfg.RatePerMinute))
				})))
		}
		r.Use(s.identify)
		r.Get("/v1/sync", s.getSync)
		r.Get("/v1/rooms", s.getRooms)
		r.Get("/v1/rooms/{room}/messages", s.getMessages)
		r.Put("/v1/rooms/{room}/cursor", s.putCursor)
		r.Get("/v1/rooms/{room}/receipts", s.getReceipts)
		r.Post("/v1/rooms", s.postRoom)
		r.Get("/v1/rooms/{room}", s.getRoom)
		r.Patch("/v1/rooms/{room}", s.patchRoom)
		r.Get("/v1/rooms/{room}/members", s.getMembers)
		r.Post("/v1/rooms/{room}/members", s.postMember)
		r.Delete("/v1/rooms/{room}/members/{userId}", s.deleteMember)
		r.Post("/v1/rooms/{room}/messages", s.postMessage)
		r.Group(func(r chi.Router) {
			r.Use(s.adminOnly)
			r.Delete("/v1/users/{userId}", s.deleteUser)
			r.Get("/v1/webhooks", s.getWebhooks)
			r.Post("/v1/webhooks/replay", s.postWebhookReplay)
		})
		if s.backup != nil {
			r.Get("/v1/admin/backup", s.getBackup)
		}
	})
	return r
}

// healthz answers 200 {"status":"ok"} when ready, else 503
// {"status":"unavailable"}. It needs no identity.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.ready() {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, tripsense.Errorf(tripsense.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
}

// methodNotAllowed answers 405 with an Allow header listing the methods the
// path has (chi's default handler does, a custom one must find them).
func (s *server) methodNotAllowed(mux *chi.Mux) http.HandlerFunc {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		for _, m := range methods {
			if mux.Match(chi.NewRouteContext(), m, path) {
				w.Header().Add("Allow", m)
			}
		}
		s.writeError(w, r, tripsense.Errorf(codeMethodNotAllowed, "method %s is not allowed here", r.Method))
	}
}

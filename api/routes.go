package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/tripsense/tripsense"
	catchup "github.com/tripsense/tripsense/sync"
)

// Routes lists every route of the API as "METHOD /pattern", sorted. The
// OpenAPI test and the serverless.yml test compare their files against it.
func Routes() []string {
	r := newRouter(Config{Sync: &catchup.Service{}, Members: noMembers{}, Reads: noReads{}, Auth: noAuth{}, Backup: noBackup{}})
	var out []string
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("api: walking the router: %v", err)) // a router we just built always walks
	}
	slices.Sort(out)
	return out
}

// LocalOnlyRoutes are the routes of Routes that only the single binary
// serves: they exist where Config.Backup is set, which lambda-api does not.
var LocalOnlyRoutes = []string{"GET /v1/admin/backup"}

// noMembers and noAuth only let Routes build a router; it never serves.
type noMembers struct{}

var errNoMembers = tripsense.Errorf(tripsense.EINTERNAL, "no member manager")

func (noMembers) AddMemberAs(context.Context, tripsense.Principal, string, string) error {
	return errNoMembers
}
func (noMembers) RemoveMemberAs(context.Context, tripsense.Principal, string, string) error {
	return errNoMembers
}
func (noMembers) CreateRoom(context.Context, tripsense.Principal, string, string, []string) (tripsense.RoomInfo, error) {
	return tripsense.RoomInfo{}, errNoMembers
}
func (noMembers) Room(context.Context, tripsense.Principal, string) (tripsense.RoomState, error) {
	return tripsense.RoomState{}, errNoMembers
}
func (noMembers) RoomMembers(context.Context, tripsense.Principal, string) ([]tripsense.RoomMember, error) {
	return nil, errNoMembers
}
func (noMembers) UpdateRoom(context.Context, tripsense.Principal, string, *string, *string) (tripsense.RoomInfo, error) {
	return tripsense.RoomInfo{}, errNoMembers
}
func (noMembers) PostMessage(context.Context, tripsense.Principal, tripsense.NewMessage) (tripsense.Message, bool, error) {
	return tripsense.Message{}, false, errNoMembers
}
func (noMembers) EraseUser(context.Context, string) (tripsense.Erasure, error) {
	return tripsense.Erasure{}, tripsense.Errorf(tripsense.EINTERNAL, "no member manager")
}

type noReads struct{}

func (noReads) MarkRead(context.Context, string, string, int64) (tripsense.ReadCursor, error) {
	return tripsense.ReadCursor{}, tripsense.Errorf(tripsense.EINTERNAL, "no read marker")
}

type noBackup struct{}

func (noBackup) Backup(io.Writer, func(int64, string) error) (int64, error) {
	return 0, tripsense.Errorf(tripsense.EINTERNAL, "no store")
}

type noAuth struct{}

func (noAuth) Authenticate(context.Context, tripsense.Credentials) (tripsense.Principal, error) {
	return tripsense.Principal{}, tripsense.Errorf(tripsense.EUNAUTHORIZED, "no identity")
}

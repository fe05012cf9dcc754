package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/memory"
	catchup "github.com/tripsense/tripsense/sync"
)

// FuzzPageQuery fuzzes the paging parameters (after, before, limit: the
// page tokens a client sends back) of GET /v1/rooms/{room}/messages and
// GET /v1/sync. Whatever the query, the answer is 200 or 400 (never 500),
// valid JSON, and a 200 page is ascending, inside the room, and its next
// token continues it.
func FuzzPageQuery(f *testing.F) {
	for _, seed := range []string{
		"after=0", "after=3&limit=2", "before=5&limit=2", "before=1", "after=99999999999999999999",
		"after=-1", "limit=0", "limit=1001", "after=1&before=2", "after=%zz", "after=1&after=2",
		"after=uuidroom1:1,uuidroom2:0", "after=uuidroom1:", "after=:5", "after=a:b:c:1&limit=7",
	} {
		f.Add(seed)
	}
	st := memory.New()
	ctx := context.Background()
	_ = st.AddMember(ctx, "uuidroom1", "uuid1")
	_ = st.AddMember(ctx, "uuidroom2", "uuid1")
	for range 7 {
		_, _, _ = st.Append(ctx, tripsense.NewMessage{Room: "uuidroom1", UserID: "uuid1", Body: "m", Type: "t"})
	}
	h := api.New(api.Config{Sync: &catchup.Service{Store: st}, Members: members{st}, Reads: reads{st}, Auth: fakeAuth{}})
	f.Fuzz(func(t *testing.T, rawQuery string) {
		for _, path := range []string{"/v1/rooms/uuidroom1/messages", "/v1/sync"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.URL.Path = path
			req.URL.RawQuery = rawQuery
			req.Header.Set("X-User-Id", "uuid1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusForbidden {
				t.Fatalf("%s?%s: status %d %s", path, rawQuery, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s?%s: invalid JSON %q", path, rawQuery, rec.Body)
			}
			if rec.Code != http.StatusOK || path != "/v1/rooms/uuidroom1/messages" {
				continue
			}
			var page struct {
				Head     int64
				Messages []struct{ Index int64 }
				HasMore  bool
				Next     int64
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			for i, m := range page.Messages {
				if m.Index < 1 || m.Index > page.Head || (i > 0 && m.Index <= page.Messages[i-1].Index) {
					t.Fatalf("?%s: page %v is not ascending inside 1..%d", rawQuery, page.Messages, page.Head)
				}
			}
			if page.HasMore && (page.Next < 1 || page.Next > page.Head) {
				t.Fatalf("?%s: next %d outside 1..%d", rawQuery, page.Next, page.Head)
			}
		}
	})
}

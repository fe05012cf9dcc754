package test

// Presence on AWS across Lambda instances: several ws.Service instances
// (one per simulated Lambda instance, so no in-process lock is shared) over
// one set of dynalite tables whose global secondary indexes lag by 300ms
// (store/dynamo/dynamotest.GSILag), with a Pusher that records what each
// connection was sent and which connections were closed.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/dynamo/dynamotest"
	catchup "github.com/tripsense/tripsense/sync"
	"github.com/tripsense/tripsense/ws"
)

// recordingPusher stands for the API Gateway management API, shared by
// every instance: it records the frames per connection, reports deliveries
// to the presence of the instance that pushed, and records closes. A
// closed connection is gone for later pushes.
type recordingPusher struct {
	presence tripsense.Presence
	shared   *pushLog
}

type pushLog struct {
	mu     sync.Mutex
	frames map[string][]map[string]any
	closed map[string]int
}

func (p *recordingPusher) Push(ctx context.Context, id string, out tripsense.Outbound) error {
	l := p.shared
	l.mu.Lock()
	if _, closed := l.closed[id]; closed {
		l.mu.Unlock()
		return tripsense.ErrGone
	}
	var f map[string]any
	if err := json.Unmarshal(out.Data, &f); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("pushed invalid JSON %s: %v", out.Data, err)
	}
	l.frames[id] = append(l.frames[id], f)
	l.mu.Unlock()
	if out.Index > 0 {
		return p.presence.Delivered(ctx, id, out.Room, out.Index)
	}
	return nil
}

func (p *recordingPusher) Close(_ context.Context, id string, code int, _ string) error {
	p.shared.mu.Lock()
	defer p.shared.mu.Unlock()
	p.shared.closed[id] = code
	return nil
}

func (l *pushLog) messages(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, f := range l.frames[id] {
		if f["type"] == "message" {
			out = append(out, fmt.Sprint(f["chatMessage"]))
		}
	}
	return out
}

func (l *pushLog) closeCode(id string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.closed[id]
	return c, ok
}

// lambdaFleet is n ws.Service instances over lagged tables.
type lambdaFleet struct {
	svcs     []*ws.Service
	log      *pushLog
	store    *dynamo.Store    // for seeding (not lagged: only base-table calls)
	presence *dynamo.Presence // for inspection, through the lag as well
}

func newLambdaFleet(t *testing.T, n int, policy ws.DuplicatePolicy, lag time.Duration) *lambdaFleet {
	t.Helper()
	endpoint, prefix, st, _ := mustAWSTables(t)
	tables := dynamo.TablesWithPrefix(prefix)
	gsi := dynamotest.NewGSILag(tables, lag, nil)
	cfg := dynamo.Config{Tables: tables}
	f := &lambdaFleet{log: &pushLog{frames: map[string][]map[string]any{}, closed: map[string]int{}}, store: st}
	f.presence = dynamo.NewPresence(gsi.Wrap(newDynamoClient(endpoint, nil, nil)), cfg)
	for range n {
		client := gsi.Wrap(newDynamoClient(endpoint, nil, nil))
		store, presence := dynamo.New(client, cfg), dynamo.NewPresence(client, cfg)
		f.svcs = append(f.svcs, &ws.Service{
			Store: store, Presence: presence, Catchup: &catchup.Service{Store: store},
			Pusher: &recordingPusher{presence: presence, shared: f.log}, Policy: policy, FanoutParallelism: 4,
		})
	}
	return f
}

func (f *lambdaFleet) connect(svc int, id, user string) error {
	return f.svcs[svc].Connect(context.Background(), tripsense.Connection{ID: id, UserID: user, ConnectedAt: time.Now().UTC()})
}

func (f *lambdaFleet) userConns(t *testing.T, user string) []string {
	t.Helper()
	cs, err := f.presence.UserConnections(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

func (f *lambdaFleet) roomConns(t *testing.T, room string) []string {
	t.Helper()
	ms, err := f.presence.RoomConnections(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.ConnID)
	}
	slices.Sort(out)
	return out
}

// TestAWSRemovedRightAfterConnectStopsReceiving: uuid1 connects through
// one instance, an admin removes it from uuidroom2 through another right
// after, and a message sent through a third must not reach it.
func TestAWSRemovedRightAfterConnectStopsReceiving(t *testing.T) {
	t.Parallel()
	f := newLambdaFleet(t, 3, ws.Replace, 300*time.Millisecond)
	ctx := context.Background()
	if err := f.connect(0, "conn-u1", "uuid1"); err != nil {
		t.Fatal(err)
	}
	if err := f.svcs[1].RemoveMember(ctx, "uuidroom2", "uuid1"); err != nil {
		t.Fatal(err)
	}
	if err := f.connect(2, "conn-u2", "uuid2"); err != nil {
		t.Fatal(err)
	}
	frame := `{"action":"sendMessage","chatroomId":"uuidroom2","chatMessage":"after the removal","messageType":"text message"}`
	if err := f.svcs[2].Handle(ctx, ws.Conn{ID: "conn-u2", UserID: "uuid2"}, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	if got := f.log.messages("conn-u1"); len(got) != 0 {
		t.Errorf("removed member's connection received %q", got)
	}
	if got := f.roomConns(t, "uuidroom2"); !slices.Equal(got, []string{"conn-u2"}) {
		t.Errorf("RoomConnections(uuidroom2) = %q, want only conn-u2", got)
	}
}

// TestAWSReplaceRightAfterConnect: a second connection of uuid1 through
// another instance right after the first replaces it (policy replace).
func TestAWSReplaceRightAfterConnect(t *testing.T) {
	t.Parallel()
	f := newLambdaFleet(t, 2, ws.Replace, 300*time.Millisecond)
	if err := f.connect(0, "first", "uuid1"); err != nil {
		t.Fatal(err)
	}
	if err := f.connect(1, "second", "uuid1"); err != nil {
		t.Fatal(err)
	}
	if code, ok := f.log.closeCode("first"); !ok || code != ws.CloseReplaced {
		t.Errorf("first connection: closed %v with %d, want closed with %d", ok, code, ws.CloseReplaced)
	}
	if got := f.userConns(t, "uuid1"); !slices.Equal(got, []string{"second"}) {
		t.Errorf("UserConnections(uuid1) = %q, want [second]", got)
	}
	if got := f.roomConns(t, "uuidroom1"); !slices.Equal(got, []string{"second"}) {
		t.Errorf("RoomConnections(uuidroom1) = %q, want [second]", got)
	}
}

// TestAWSDuplicatePolicyAcrossConcurrentConnects: connects of one user run
// at once in different instances (different processes: no shared lock).
// Under replace at most one connection stays and every other one was
// closed or refused; under refuse exactly one is admitted; under allow the
// limit holds.
func TestAWSDuplicatePolicyAcrossConcurrentConnects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy ws.DuplicatePolicy
		limit  int
	}{{ws.Replace, 0}, {ws.Refuse, 0}, {ws.Allow, 2}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			const n = 6
			f := newLambdaFleet(t, n, tc.policy, 300*time.Millisecond)
			for _, s := range f.svcs {
				s.MaxConnectionsPerUser = tc.limit
			}
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = f.connect(i, fmt.Sprintf("c%d", i), "uuid1")
				})
			}
			close(start)
			wg.Wait()
			var admitted []string
			for i, err := range errs {
				if err == nil {
					admitted = append(admitted, fmt.Sprintf("c%d", i))
				}
			}
			online := f.userConns(t, "uuid1")
			inRoom := f.roomConns(t, "uuidroom1")
			t.Logf("admitted %q, online %q, receiving uuidroom1 %q, errors %v", admitted, online, inRoom, errs)
			if !slices.Equal(online, inRoom) {
				t.Errorf("online connections %q differ from the room's %q", online, inRoom)
			}
			switch tc.policy {
			case ws.Replace:
				if len(online) != 1 {
					t.Fatalf("replace: %d connections online, want 1", len(online))
				}
				for i := range n {
					id := fmt.Sprintf("c%d", i)
					_, closed := f.log.closeCode(id)
					if id != online[0] && errs[i] == nil && !closed {
						t.Errorf("replace: %s was admitted, is not online and was never closed", id)
					}
				}
			case ws.Refuse:
				if len(admitted) != 1 || !slices.Equal(online, admitted) {
					t.Errorf("refuse: admitted %q, online %q; want exactly one, the same", admitted, online)
				}
				for i, err := range errs {
					if err != nil && tripsense.ErrorCode(err) != tripsense.ECONFLICT {
						t.Errorf("refuse: c%d: %v, want ECONFLICT", i, err)
					}
				}
			case ws.Allow:
				if len(admitted) != tc.limit || !slices.Equal(online, admitted) {
					t.Errorf("allow, limit %d: admitted %q, online %q", tc.limit, admitted, online)
				}
			}
		})
	}
}

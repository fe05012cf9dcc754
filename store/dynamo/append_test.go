package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/store/storetest"
)

func newStore(api dynamo.API, tables dynamo.Tables) *dynamo.Store {
	return dynamo.New(api, dynamo.Config{Tables: tables, MaxBackoff: 5 * time.Millisecond})
}

func msgFrom(user, clientMsgID, body string) tripsense.NewMessage {
	return tripsense.NewMessage{Room: "r", UserID: user, Body: body, Type: "text message", ClientMsgID: clientMsgID}
}

// checkRoom checks that room r holds exactly indexes 1..want and that each
// (user, clientMsgId) in once appears exactly once, at the given index.
func checkRoom(t *testing.T, s tripsense.MessageStore, want int64, once map[[2]string]int64) {
	t.Helper()
	msgs := storetest.MustMessagesAfter(t, s, "r", 0, int(want)+10)
	if int64(len(msgs)) != want {
		t.Fatalf("room holds %d messages, want %d", len(msgs), want)
	}
	count := make(map[[2]string][]int64)
	for i, m := range msgs {
		if m.Index != int64(i)+1 {
			t.Fatalf("message %d has index %d: gap or duplicate", i, m.Index)
		}
		if m.ClientMsgID != "" {
			k := [2]string{m.UserID, m.ClientMsgID}
			count[k] = append(count[k], m.Index)
		}
	}
	for k, idx := range once {
		if got := count[k]; len(got) != 1 || got[0] != idx {
			t.Errorf("%s/%s stored at %v, want once at %d", k[0], k[1], got, idx)
		}
	}
	if head := storetest.MustHead(t, s, "r"); head != want {
		t.Errorf("Head = %d, want %d", head, want)
	}
}

// TestAppendCrashBetweenWrites makes a process die at each point of an
// idempotent send, lets other senders go on, then retries the send from a
// fresh process (a new Store): the retry returns the original message if
// it was stored, stores it once if not, and the room never has a gap.
func TestAppendCrashBetweenWrites(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		rule    faultRule // applied to the first attempt
		others  int       // messages others store between crash and retry
		wantDup bool      // the retry finds the message already stored
	}{
		{"claim lost before reaching DynamoDB", faultRule{op: "PutItem", table: dynamo.BaseDedupe, nth: 1, mode: failBefore}, 2, false},
		{"claim stored, answer lost", faultRule{op: "PutItem", table: dynamo.BaseDedupe, nth: 1, mode: failAfter}, 0, false},
		{"claim stored, answer lost, index taken meanwhile", faultRule{op: "PutItem", table: dynamo.BaseDedupe, nth: 1, mode: failAfter}, 3, false},
		{"crash between claim and message", faultRule{op: "PutItem", table: dynamo.BaseMessages, nth: 1, mode: failBefore}, 0, false},
		{"crash between claim and message, index taken meanwhile", faultRule{op: "PutItem", table: dynamo.BaseMessages, nth: 1, mode: failBefore}, 3, false},
		{"message stored, answer lost", faultRule{op: "PutItem", table: dynamo.BaseMessages, nth: 1, mode: failAfter}, 0, true},
		{"message stored, answer lost, others sent since", faultRule{op: "PutItem", table: dynamo.BaseMessages, nth: 1, mode: failAfter}, 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			tables := mustTables(t)
			rule := tc.rule
			rule.table = tables.Name(rule.table)
			other := newStore(sharedClient(), tables)
			storetest.MustAppendN(t, other, "r", "u2", 2)

			nm := msgFrom("u1", "c-1", "hello")
			crashed := newStore(&faultAPI{API: sharedClient(), rules: []faultRule{rule}}, tables)
			if _, _, err := crashed.Append(ctx, nm); !errors.Is(err, errCrash) {
				t.Fatalf("first attempt: err = %v, want the simulated crash", err)
			}
			storetest.MustAppendN(t, other, "r", "u2", tc.others)

			retry := newStore(sharedClient(), tables)
			got, dup := storetest.MustAppend(t, retry, nm)
			want := int64(3) // stored by the crashed attempt at the index it claimed
			if !tc.wantDup {
				want = 3 + int64(tc.others) // the claimed index if still free, else the next free one
			}
			if dup != tc.wantDup || got.Index != want {
				t.Fatalf("retry: index %d dup=%v, want index %d dup=%v", got.Index, dup, want, tc.wantDup)
			}
			again, dup := storetest.MustAppend(t, newStore(sharedClient(), tables), nm)
			if !dup || !storetest.SameMessage(again, got) {
				t.Fatalf("second retry: %+v dup=%v, want %+v as duplicate", again, dup, got)
			}
			checkRoom(t, retry, 3+int64(tc.others), map[[2]string]int64{{"u1", "c-1"}: got.Index})
		})
	}
}

// TestAppendCrashAfterMovingClaim loses the race for the claimed index,
// moves the claim and dies (once right after the move, once with the move's
// answer lost); the retry follows the moved claim.
func TestAppendCrashAfterMovingClaim(t *testing.T) {
	t.Parallel()
	for _, mode := range []faultMode{failBefore, failAfter} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			tables := mustTables(t)
			other := newStore(sharedClient(), tables)
			storetest.MustAppendN(t, other, "r", "u2", 1)
			nm := msgFrom("u1", "c-1", "hello")
			rules := []faultRule{
				// Just before our first message write, another sender takes index 2.
				{op: "PutItem", table: tables.Messages, nth: 1, mode: runHook, hook: func() {
					storetest.MustAppendNew(t, other, msgFrom("u2", "", "racer"))
				}},
			}
			if mode == failBefore {
				// The claim moves to 3; the process dies before writing there.
				rules = append(rules, faultRule{op: "PutItem", table: tables.Messages, nth: 2, mode: failBefore})
			} else {
				rules = append(rules, faultRule{op: "UpdateItem", table: tables.Dedupe, nth: 1, mode: failAfter})
			}
			crashed := newStore(&faultAPI{API: sharedClient(), rules: rules}, tables)
			if _, _, err := crashed.Append(ctx, nm); !errors.Is(err, errCrash) {
				t.Fatalf("first attempt: err = %v, want the simulated crash", err)
			}
			storetest.MustAppendN(t, other, "r", "u2", 2) // take 3 and 4 too
			got, dup := storetest.MustAppend(t, newStore(sharedClient(), tables), nm)
			if dup || got.Index != 5 {
				t.Fatalf("retry: index %d dup=%v, want 5 and not a duplicate", got.Index, dup)
			}
			checkRoom(t, other, 5, map[[2]string]int64{{"u1", "c-1"}: 5})
		})
	}
}

// TestAppendRandomCrashes runs senders in separate "processes" whose calls
// fail at random, before or after being applied. A sender that sees an
// error starts a new process and retries the same clientMsgId until it
// gets an answer. In the end every send is stored exactly once, at the
// index its final answer named, and the room has no gap.
func TestAppendRandomCrashes(t *testing.T) {
	t.Parallel()
	tables := mustTables(t)
	const senders, perSender, maxTries = 6, 8, 60
	var (
		mu     sync.Mutex
		once   = make(map[[2]string]int64)
		wg     sync.WaitGroup
		faults int
	)
	for u := range senders {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(u), 42))
			user := fmt.Sprintf("u%d", u)
			for i := range perSender {
				nm := msgFrom(user, fmt.Sprintf("c-%d", i), fmt.Sprintf("%s %d", user, i))
				var (
					msg  tripsense.Message
					err  error
					done bool
				)
				for try := 0; try < maxTries && !done; try++ {
					f := &faultAPI{API: sharedClient(), rnd: rand.New(rand.NewPCG(rnd.Uint64(), 7)), p: 0.2}
					msg, _, err = newStore(f, tables).Append(context.Background(), nm)
					done = err == nil
					mu.Lock()
					faults += f.fired
					mu.Unlock()
				}
				if !done {
					t.Errorf("%s/%s: no success in %d tries: %v", nm.UserID, nm.ClientMsgID, maxTries, err)
					return
				}
				mu.Lock()
				once[[2]string{nm.UserID, nm.ClientMsgID}] = msg.Index
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if faults < senders*perSender/2 {
		t.Fatalf("only %d faults injected; the test exercises too little", faults)
	}
	t.Logf("%d sends survived %d injected faults", senders*perSender, faults)
	checkRoom(t, newStore(sharedClient(), tables), senders*perSender, once)
}

// TestAppendManyProcesses has several processes (one Store each, as Lambda
// invocations) race for one room, each also retrying sends another process
// made: no gap, no duplicate, every retry answers the original index.
func TestAppendManyProcesses(t *testing.T) {
	t.Parallel()
	tables := mustTables(t)
	const procs, perProc = 8, 8
	var (
		mu    sync.Mutex
		first = make(map[[2]string]int64)
		seen  = make(map[[2]string][]int64)
		wg    sync.WaitGroup
	)
	start := make(chan struct{})
	for p := range procs {
		wg.Go(func() {
			s := newStore(sharedClient(), tables)
			<-start
			for i := range perProc {
				for _, sender := range []int{p, (p + 1) % procs} { // own send, then a retry of the neighbour's
					nm := msgFrom(fmt.Sprintf("u%d", sender), fmt.Sprintf("c-%d", i), "x")
					m, dup, err := s.Append(context.Background(), nm)
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					k := [2]string{nm.UserID, nm.ClientMsgID}
					mu.Lock()
					if !dup {
						if _, ok := first[k]; ok {
							t.Errorf("%v stored twice", k)
						}
						first[k] = m.Index
					}
					seen[k] = append(seen[k], m.Index)
					mu.Unlock()
				}
			}
			// Sends without clientMsgId race too.
			storetest.MustAppendN(t, s, "r", fmt.Sprintf("plain%d", p), 2)
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	for k, idx := range seen {
		for _, i := range idx {
			if i != first[k] {
				t.Errorf("%v answered %v, want always %d", k, idx, first[k])
			}
		}
	}
	checkRoom(t, newStore(sharedClient(), tables), procs*perProc+procs*2, first)
}

// TestAppendGivesUpWhenBusy checks the bounded retries: a store that always
// loses the race returns ECONFLICT instead of spinning.
func TestAppendGivesUpWhenBusy(t *testing.T) {
	t.Parallel()
	tables := mustTables(t)
	other := newStore(sharedClient(), tables)
	var rules []faultRule
	for n := 1; n <= 3; n++ {
		rules = append(rules, faultRule{op: "PutItem", table: tables.Messages, nth: n, mode: runHook, hook: func() {
			storetest.MustAppendNew(t, other, msgFrom("u2", "", "racer"))
		}})
	}
	s := dynamo.New(&faultAPI{API: sharedClient(), rules: rules}, dynamo.Config{Tables: tables, MaxAppendAttempts: 3, MaxBackoff: time.Millisecond})
	_, _, err := s.Append(testCtx(t), msgFrom("u1", "c-1", "x"))
	if code := tripsense.ErrorCode(err); code != tripsense.ECONFLICT {
		t.Fatalf("err = %v (code %q), want ECONFLICT", err, code)
	}
	head := storetest.MustHead(t, other, "r")
	got, dup := storetest.MustAppend(t, newStore(sharedClient(), tables), msgFrom("u1", "c-1", "x"))
	if dup || got.Index != head+1 {
		t.Fatalf("retry: index %d dup=%v, want %d, new", got.Index, dup, head+1)
	}
	checkRoom(t, other, head+1, map[[2]string]int64{{"u1", "c-1"}: head + 1})
}

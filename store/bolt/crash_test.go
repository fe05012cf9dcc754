package bolt_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/store/bolt"
	"github.com/tripsense/tripsense/store/storetest"
)

// crashChildEnv tells the test binary to run as the crash child: append to
// the store at the given path until killed.
const crashChildEnv = "TRIPSENSE_BOLT_CRASH_CHILD"

var crashRooms = []string{"room-a", "room-b"}

// TestCrashChild is the child of TestKill9KeepsAcknowledgedAppends. Run
// normally, it does nothing.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("only runs as the child of TestKill9KeepsAcknowledgedAppends")
	}
	round := os.Getenv(crashChildEnv + "_ROUND")
	opts := bolt.Options{}
	if round == "0" {
		// Every append it acks is in the write-ahead log only.
		opts.CheckpointAppends, opts.CheckpointInterval = 1<<30, time.Hour
	}
	s, err := bolt.Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for u := range 16 {
		wg.Go(func() {
			room := crashRooms[u%len(crashRooms)]
			for i := 0; ; i++ {
				cid := fmt.Sprintf("r%s-u%d-%d", round, u, i)
				m, _, err := s.Append(context.Background(), tripsense.NewMessage{Room: room, UserID: fmt.Sprint("u", u),
					Body: "crash test " + cid, Type: "text message", ClientMsgID: cid})
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				// One line per acknowledged append, flushed before the next send.
				mu.Lock()
				fmt.Fprintf(out, "%s %d %s %d\n", room, m.Index, cid, u)
				err = out.Flush()
				mu.Unlock()
				if err != nil {
					os.Exit(2)
				}
			}
		})
	}
	wg.Wait()
}

type ack struct {
	room  string
	index int64
	cid   string
	user  string
}

// runUntilKilled starts the crash child on path, reads acknowledgements
// until it has at least n, kills the child with SIGKILL and returns every
// acknowledgement it printed.
func runUntilKilled(t *testing.T, path string, round, n int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, fmt.Sprintf("%s_ROUND=%d", crashChildEnv, round))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			continue // not an acknowledgement (test framework output)
		}
		index, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		acks = append(acks, ack{room: f[0], index: index, cid: f[2], user: "u" + f[3]})
		if len(acks) >= n && !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acknowledgements: %v", len(acks), err)
	}
	return acks
}

// TestKill9KeepsAcknowledgedAppends kills a process that appends from 16
// goroutines in the middle of its commits, twice, and checks that every
// append it acknowledged is stored with its index, that each room is still
// gap-free, and that retries of acknowledged sends are duplicates. In the
// first round the process never checkpoints its write-ahead log, so all
// it acked is replayed from the log; in the second it checkpoints as it
// does by default, so the kill comes before, during or after checkpoints.
func TestKill9KeepsAcknowledgedAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tripsense.db")
	var all []ack
	for round := range 2 {
		all = append(all, runUntilKilled(t, path, round, 1500)...)
		s := MustOpen(t, path, bolt.Options{})
		if st := s.Stats(); round == 0 && st.Replayed == 0 {
			t.Fatalf("round 0: nothing replayed from the log, which held all %d acknowledged appends", len(all))
		}
		for _, room := range crashRooms {
			head := storetest.MustHead(t, s, room)
			msgs := storetest.MustMessagesAfter(t, s, room, 0, int(head)+1)
			if int64(len(msgs)) != head {
				t.Fatalf("round %d, %s: %d messages, head %d", round, room, len(msgs), head)
			}
			for i, m := range msgs {
				if m.Index != int64(i)+1 {
					t.Fatalf("round %d, %s: message %d has index %d (gap)", round, room, i+1, m.Index)
				}
			}
			for _, a := range all {
				if a.room != room {
					continue
				}
				if a.index > head {
					t.Fatalf("round %d: acknowledged %s#%d (%s) lost; head is %d", round, room, a.index, a.cid, head)
				}
				if m := msgs[a.index-1]; m.ClientMsgID != a.cid || m.Body != "crash test "+a.cid {
					t.Fatalf("round %d: %s#%d is %q, acknowledged %q", round, room, a.index, m.ClientMsgID, a.cid)
				}
			}
		}
		// Retrying a few acknowledged sends returns their original index.
		for _, a := range []ack{all[0], all[len(all)/2], all[len(all)-1]} {
			m, dup := storetest.MustAppend(t, s, tripsense.NewMessage{Room: a.room, UserID: a.user, Body: "retry", Type: "text message", ClientMsgID: a.cid})
			if !dup || m.Index != a.index {
				t.Fatalf("round %d: retry of %s got %s#%d dup=%v, want #%d dup", round, a.cid, a.room, m.Index, dup, a.index)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d acknowledged appends survived two kill -9", len(all))
}

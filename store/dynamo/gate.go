package dynamo

import (
	"context"
	"sync"
)

// roomGates lets one Append per room at a time through, within one
// process. It is an optimisation, not a guarantee: correctness across
// processes rests on the conditional writes. Without it, N goroutines of one
// long-lived process sending to one room would race each other for every
// index and waste O(N) conditional writes per message; with it a process is
// one contender, as a Lambda invocation is.
type roomGates struct {
	mu sync.Mutex
	m  map[string]*roomGate
}

type roomGate struct {
	ch   chan struct{} // holds a token while an Append runs
	refs int           // goroutines holding or waiting for the gate
}

// enter waits for room's gate or for ctx to end, and returns the function
// that leaves it.
func (g *roomGates) enter(ctx context.Context, room string) (func(), error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[string]*roomGate)
	}
	rg := g.m[room]
	if rg == nil {
		rg = &roomGate{ch: make(chan struct{}, 1)}
		g.m[room] = rg
	}
	rg.refs++
	g.mu.Unlock()

	select {
	case rg.ch <- struct{}{}:
		return func() {
			<-rg.ch
			g.drop(room, rg)
		}, nil
	case <-ctx.Done():
		g.drop(room, rg)
		return nil, ctx.Err()
	}
}

func (g *roomGates) drop(room string, rg *roomGate) {
	g.mu.Lock()
	rg.refs--
	if rg.refs == 0 {
		delete(g.m, room)
	}
	g.mu.Unlock()
}

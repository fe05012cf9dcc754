package bolt

import "sync"

// memberCacheMax bounds the pairs a memberCache holds (about 64 bytes
// each); a full cache starts over empty.
const memberCacheMax = 1 << 16

// memberCache remembers the (user, room) pairs IsMember found in the file,
// so that the membership check every send makes is a map lookup instead of
// a read transaction (7% of the server's CPU with 100 senders, and 12 of
// its 77 allocations per send; docs/benchmarks.md).
//
// Only yes answers are kept, so adding a member can never make one wrong.
// A write that removes memberships forgets them once its commit is over
// and before its caller hears of it (op.after): after RemoveMember
// returns, IsMember says no. gen closes the remaining race: a lookup that
// read the file before such a commit, and stores its answer after the
// commit's forget, would bring the removed pair back; it stores its answer
// only if no forget ran since it began (it read gen before its
// transaction).
type memberCache struct {
	mu    sync.RWMutex
	gen   uint64
	pairs map[string]struct{}
}

// has reports whether key (a pairKey(user, room)) is cached, and the
// generation to give add if the caller then reads the file.
func (c *memberCache) has(key []byte) (ok bool, gen uint64) {
	c.mu.RLock()
	_, ok = c.pairs[string(key)]
	gen = c.gen
	c.mu.RUnlock()
	return ok, gen
}

// add caches key, found in the file by a lookup that began at gen, unless
// a forget ran since.
func (c *memberCache) add(gen uint64, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.pairs == nil || len(c.pairs) >= memberCacheMax {
		c.pairs = make(map[string]struct{})
	}
	c.pairs[string(key)] = struct{}{}
}

// forget drops keys; with no keys it drops every pair.
func (c *memberCache) forget(keys ...[]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(keys) == 0 {
		clear(c.pairs)
		return
	}
	for _, k := range keys {
		delete(c.pairs, string(k))
	}
}

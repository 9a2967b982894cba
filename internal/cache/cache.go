// Package cache is the in-memory cache the roles put in front of KV for
// data that document events invalidate (SIP credentials at the edge,
// documents on a media node).
//
// Events travel on core NATS and may be lost, so the cache is built to be
// safe without them: entries expire after a TTL; an epoch function (a
// bus reconnect or dropped-message counter) clears everything when it
// changes; and a read from the backing store that started before an
// invalidation does not store its possibly stale result (the Ticket from
// Get carries the invalidation generation). Size is bounded: when full,
// the whole cache is dropped, which is cheap, rare, and keeps a flood of
// random keys from growing memory.
package cache

import (
	"sync"
	"time"

	"github.com/strowger/strowger/internal/clock"
)

// Cache maps K to V with expiry and invalidation. It is safe for
// concurrent use.
type Cache[K comparable, V any] struct {
	clk       clock.Clock
	ttl       time.Duration
	max       int
	epoch     func() uint64
	lastEpoch uint64

	mu  sync.Mutex
	m   map[K]entry[V]
	gen uint64 // counts invalidations
}

type entry[V any] struct {
	v     V
	until time.Time
}

// Ticket is what Put needs from the Get that missed: when it was and which
// invalidations had happened by then.
type Ticket struct {
	gen uint64
	at  time.Time
}

// New makes a cache whose entries live ttl, holding at most max; epoch
// (optional) is read on every Get, and a change clears the cache.
func New[K comparable, V any](clk clock.Clock, ttl time.Duration, max int, epoch func() uint64) *Cache[K, V] {
	c := &Cache[K, V]{clk: clk, ttl: ttl, max: max, epoch: epoch, m: make(map[K]entry[V])}
	if epoch != nil {
		c.lastEpoch = epoch()
	}
	return c
}

// SetEpoch replaces the epoch function (a subscription made after the
// cache may be what it reports on) and takes its current value as the base.
func (c *Cache[K, V]) SetEpoch(epoch func() uint64) {
	var ep uint64
	if epoch != nil {
		ep = epoch()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch, c.lastEpoch = epoch, ep
}

// Get returns k's value if it is cached and fresh; otherwise the caller
// reads the backing store and hands the result to Put with the ticket.
func (c *Cache[K, V]) Get(k K) (V, bool, Ticket) {
	now := c.clk.Now()
	// The epoch is read outside the lock: it asks the NATS connection,
	// whose callbacks take this lock.
	c.mu.Lock()
	epoch := c.epoch
	c.mu.Unlock()
	var ep uint64
	if epoch != nil {
		ep = epoch()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != nil && ep != c.lastEpoch {
		c.lastEpoch = ep
		c.gen++
		clear(c.m)
	}
	e, ok := c.m[k]
	if ok && now.Before(e.until) {
		return e.v, true, Ticket{}
	}
	var zero V
	return zero, false, Ticket{gen: c.gen, at: now}
}

// Put caches v for k, unless an invalidation happened since t's Get.
func (c *Cache[K, V]) Put(k K, v V, t Ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != t.gen {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = entry[V]{v: v, until: t.at.Add(c.ttl)}
}

// Delete drops k.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, k)
}

// DeleteFunc drops every entry for which del reports true.
func (c *Cache[K, V]) DeleteFunc(del func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if del(k, e.v) {
			delete(c.m, k)
		}
	}
}

// Reset drops everything.
func (c *Cache[K, V]) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// Contains reports whether k is held (fresh or not).
func (c *Cache[K, V]) Contains(k K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

// Len is the number of entries held (fresh or not).
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

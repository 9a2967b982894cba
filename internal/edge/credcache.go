package edge

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// credCache keeps SIP credential lookups (found and not found) in memory,
// so a registration refresh does not cost four KV reads. It is invalidated
// by document events: a device or account event drops that account's
// entries and every "not found" entry (the new device or realm may be the
// one that was missing). Events travel on
// core NATS, which may lose some across a reconnect, so entries also expire
// after credTTL, and the cache is cleared when the connection comes back.
//
// Size is bounded: when full, the whole cache is dropped (cheap, rare, and
// a flood of random usernames cannot grow memory).
type credCache struct {
	dir Directory
	clk clock.Clock
	ttl time.Duration
	max int
	// epoch reports the bus connection's reconnect count; a change clears
	// the cache.
	epoch     func() uint64
	lastEpoch uint64

	mu sync.Mutex
	m  map[credKey]credEntry
	// gen counts invalidations; a lookup that started before one does not
	// store its (possibly stale) result.
	gen uint64
}

type credKey struct{ realm, user string }

type credEntry struct {
	cred  store.SIPCredential
	found bool
	until time.Time
}

// credTTL bounds how long a credential may be served without an event.
const credTTL = 60 * time.Second

func newCredCache(dir Directory, clk clock.Clock, max int, epoch func() uint64) *credCache {
	return &credCache{dir: dir, clk: clk, ttl: credTTL, max: max, epoch: epoch, m: make(map[credKey]credEntry)}
}

// SIPCredential implements Directory with the cache in front.
func (c *credCache) SIPCredential(ctx context.Context, realm, user string) (store.SIPCredential, bool, error) {
	k := credKey{realm, user}
	now := c.clk.Now()
	ep := c.epoch()
	c.mu.Lock()
	if ep != c.lastEpoch {
		c.lastEpoch = ep
		c.gen++
		clear(c.m)
	}
	e, ok := c.m[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.cred, e.found, nil
	}
	cred, found, err := c.dir.SIPCredential(ctx, realm, user)
	if err != nil {
		return cred, found, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) >= c.max {
			clear(c.m)
		}
		c.m[k] = credEntry{cred: cred, found: found, until: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return cred, found, nil
}

// invalidate applies one document event.
func (c *credCache) invalidate(ev store.DocEvent) {
	if ev.Type != store.TypeDevice && ev.Type != store.TypeAccount {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		// A "not found" may have become found through any device or
		// account write, whose realm the event does not tell.
		if !e.found || e.cred.AccountID == ev.Account {
			delete(c.m, k)
		}
	}
}

// reset drops everything (after a bus reconnect: events may have been lost).
func (c *credCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// len is the number of cached entries.
func (c *credCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// subscribeCredEvents feeds document events into the cache.
func (e *Edge) subscribeCredEvents() error {
	s, err := e.nc.Subscribe(bus.DocEventsAll, func(msg *nats.Msg) {
		var ev store.DocEvent
		if json.Unmarshal(msg.Data, &ev) != nil {
			// Unknown payload: be safe rather than serve stale secrets.
			e.creds.reset()
			return
		}
		e.creds.invalidate(ev)
	})
	if err != nil {
		return err
	}
	e.subs = append(e.subs, s)
	return nil
}

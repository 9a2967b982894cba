package edge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/cache"
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
	dir     Directory
	entries *cache.Cache[credKey, credEntry]
}

type credKey struct{ realm, user string }

type credEntry struct {
	cred  store.SIPCredential
	found bool
}

// credTTL bounds how long a credential may be served without an event.
const credTTL = 60 * time.Second

// newCredCache puts a cache in front of dir; epoch reports the bus
// connection's reconnect count, and a change clears the cache.
func newCredCache(dir Directory, clk clock.Clock, max int, epoch func() uint64) *credCache {
	return &credCache{dir: dir, entries: cache.New[credKey, credEntry](clk, credTTL, max, epoch)}
}

// SIPCredential implements Directory with the cache in front.
func (c *credCache) SIPCredential(ctx context.Context, realm, user string) (store.SIPCredential, bool, error) {
	cred, found, _, err := c.lookup(ctx, realm, user)
	return cred, found, err
}

// reload reads the directory again and caches the answer. The registrar
// calls it after a failed authentication whose credential came from the
// cache: a failure then costs a directory lookup whether the user exists
// or not (a cached known user must not answer faster than an unknown
// one), and a password changed while its event was lost is picked up.
func (c *credCache) reload(ctx context.Context, realm, user string) error {
	c.entries.Delete(credKey{realm, user})
	_, _, _, err := c.lookup(ctx, realm, user)
	return err
}

// lookup is SIPCredential that also tells whether the cache answered.
func (c *credCache) lookup(ctx context.Context, realm, user string) (store.SIPCredential, bool, bool, error) {
	k := credKey{realm, user}
	e, ok, t := c.entries.Get(k)
	if ok {
		return e.cred, e.found, true, nil
	}
	cred, found, err := c.dir.SIPCredential(ctx, realm, user)
	if err != nil {
		return cred, found, false, err
	}
	c.entries.Put(k, credEntry{cred: cred, found: found}, t)
	return cred, found, false, nil
}

// invalidate applies one document event.
func (c *credCache) invalidate(ev store.DocEvent) {
	if ev.Type != store.TypeDevice && ev.Type != store.TypeAccount {
		return
	}
	// A "not found" may have become found through any device or account
	// write, whose realm the event does not tell.
	c.entries.DeleteFunc(func(_ credKey, e credEntry) bool { return !e.found || e.cred.AccountID == ev.Account })
}

// reset drops everything (after a bus reconnect: events may have been lost).
func (c *credCache) reset() { c.entries.Reset() }

// len is the number of cached entries.
func (c *credCache) len() int { return c.entries.Len() }

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

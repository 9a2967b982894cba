package b2bua

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

// docCache keeps the documents calls read (the caller's account, device
// and user, the callee devices) in memory: every call reads four to six,
// and each read from KV is a round trip through JetStream and a JSON
// decode. Like the edge's credential cache and the dialplan's callflow
// tables it is invalidated by document events (store.DocEvent), which
// travel on core NATS and may be lost across a reconnect or by a slow
// subscription: entries also expire after docTTL, and the whole cache is
// dropped when the connection reconnects or the subscription reports
// dropped messages. A change is therefore seen by the next call once its
// event has arrived (a few milliseconds), and after docTTL at worst.
//
// Only found documents are kept (a document created after a miss is seen
// at once). Documents are shared, not copied: readers must not change
// them ((*call).Doc hands callflow modules a deep copy). Size is bounded:
// when full, the whole cache is dropped.
type docCache struct {
	docs Docs
	clk  clock.Clock
	ttl  time.Duration
	max  int
	// stale reports a counter that changes when events may have been
	// lost (reconnects plus dropped messages); a change clears the cache.
	stale     func() uint64
	lastStale uint64

	mu sync.Mutex
	m  map[docKey]docEntry
	// gen counts invalidations; a read that started before one does not
	// store its (possibly stale) result.
	gen uint64
}

type docKey struct{ account, typ, id string }

type docEntry struct {
	doc   *store.Doc
	until time.Time
}

// docTTL bounds how long a document may be served without an event.
const docTTL = 60 * time.Second

// docCacheMax bounds the number of cached documents.
const docCacheMax = 50000

func newDocCache(docs Docs, clk clock.Clock, max int, stale func() uint64) *docCache {
	return &docCache{docs: docs, clk: clk, ttl: docTTL, max: max, stale: stale, lastStale: stale(),
		m: make(map[docKey]docEntry)}
}

// Get implements Docs with the cache in front.
func (c *docCache) Get(ctx context.Context, account, typ, id string) (*store.Doc, error) {
	k := docKey{account, typ, id}
	now := c.clk.Now()
	st := c.stale()
	c.mu.Lock()
	if st != c.lastStale {
		c.lastStale = st
		c.gen++
		clear(c.m)
	}
	e, ok := c.m[k]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.doc, nil
	}
	d, err := c.docs.Get(ctx, account, typ, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) >= c.max {
			clear(c.m)
		}
		c.m[k] = docEntry{doc: d, until: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return d, nil
}

// List implements Docs; lists are not cached.
func (c *docCache) List(ctx context.Context, account, typ string) ([]*store.Doc, error) {
	return c.docs.List(ctx, account, typ)
}

// invalidate applies one document event.
func (c *docCache) invalidate(ev store.DocEvent) {
	c.mu.Lock()
	c.gen++
	delete(c.m, docKey{ev.Account, ev.Type, ev.ID})
	c.mu.Unlock()
}

// reset drops everything.
func (c *docCache) reset() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

func (c *docCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// subscribeDocEvents feeds document events into the cache until the
// returned subscription is dropped.
func (c *docCache) subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	return nc.Subscribe(bus.DocEventsAll, func(m *nats.Msg) {
		var ev store.DocEvent
		if json.Unmarshal(m.Data, &ev) != nil {
			// Unknown payload: be safe rather than serve stale documents.
			c.reset()
			return
		}
		c.invalidate(ev)
	})
}

func cloneDoc(d *store.Doc) *store.Doc {
	cp := *d
	cp.Body, _ = cloneJSON(d.Body).(map[string]any)
	return &cp
}

// cloneJSON deep-copies a decoded JSON value (maps, slices, scalars).
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return t
		}
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = cloneJSON(x)
		}
		return m
	case []any:
		if t == nil {
			return t
		}
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = cloneJSON(x)
		}
		return s
	default:
		return v
	}
}

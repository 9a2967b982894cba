package b2bua

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
	docs    Docs
	entries *cache.Cache[docKey, *store.Doc]
}

type docKey struct{ account, typ, id string }

// docTTL bounds how long a document may be served without an event.
const docTTL = 60 * time.Second

// docCacheMax bounds the number of cached documents.
const docCacheMax = 50000

// newDocCache puts a cache in front of docs; stale reports a counter that
// changes when events may have been lost (reconnects plus dropped
// messages), and a change clears the cache.
func newDocCache(docs Docs, clk clock.Clock, max int, stale func() uint64) *docCache {
	return &docCache{docs: docs, entries: cache.New[docKey, *store.Doc](clk, docTTL, max, stale)}
}

// Get implements Docs with the cache in front.
func (c *docCache) Get(ctx context.Context, account, typ, id string) (*store.Doc, error) {
	k := docKey{account, typ, id}
	d, ok, t := c.entries.Get(k)
	if ok {
		return d, nil
	}
	d, err := c.docs.Get(ctx, account, typ, id)
	if err != nil {
		return nil, err
	}
	c.entries.Put(k, d, t)
	return d, nil
}

// List implements Docs; lists are not cached.
func (c *docCache) List(ctx context.Context, account, typ string) ([]*store.Doc, error) {
	return c.docs.List(ctx, account, typ)
}

// invalidate applies one document event.
func (c *docCache) invalidate(ev store.DocEvent) {
	c.entries.Delete(docKey{ev.Account, ev.Type, ev.ID})
}

// reset drops everything.
func (c *docCache) reset() { c.entries.Reset() }

func (c *docCache) len() int { return c.entries.Len() }

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
	cp.Body, _ = store.CloneJSON(d.Body).(map[string]any)
	return &cp
}

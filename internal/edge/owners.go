package edge

import (
	"context"
	"sync"
	"time"

	"github.com/strowger/strowger/internal/sipbus"
)

// Call ownership checks without a KV read per message.
//
// Every message a media node sends about an established call carries the
// ownership epoch it acts under, and the edge must drop it when the call's
// key holds a higher epoch (a paused node that woke up after a takeover;
// sipbus package doc). Reading the key for each of these messages was
// several JetStream round trips per call. The edge therefore remembers the
// owner and epoch it last read for a Call-ID, tied to the owner's
// liveness generation (nodeTable): the generation changes whenever the
// owner's heartbeats show a gap longer than beatGap (on either clock), the
// node restarts or is removed, and a remembered owner is used only while
// the node is heart-beating without a gap and not draining. By the
// contract in package sipbus a call's epoch rises only when its owner's
// lease lapsed (a takeover: the owner stopped heart-beating) or the owner
// handed it over while draining, so a remembered epoch that passes these
// checks is the current one. Anything else reads KV as before.
//
// The phone-to-node direction (which node gets an in-dialog request) still
// reads KV for every request: a wrong guess there would reach a node that
// answers 481 and ends the dialog. Its reads refresh the remembered owner.

// beatGap is the longest pause between two heartbeats of a node that the
// edge still treats as uninterrupted: twice the beat interval, well below
// sipbus.NodeTTL, after which other nodes may claim the calls.
const beatGap = 2 * sipbus.HeartbeatEvery

// ownerTTL bounds how long a remembered owner is used before KV is read
// again, and so the memory of finished calls: entries live between one and
// two of it.
const ownerTTL = 30 * time.Second

// ownerCache maps Call-IDs to the owner last read for them. Two
// generations of maps rotate every ownerTTL, so memory is bounded by the
// call rate without a sweep.
type ownerCache struct {
	mu        sync.Mutex
	cur, prev map[string]ownerEntry
	rotated   time.Time
}

type ownerEntry struct {
	owner sipbus.CallOwner
	gen   uint64 // the owner node's liveness generation when read
}

func newOwnerCache() *ownerCache {
	return &ownerCache{cur: map[string]ownerEntry{}, prev: map[string]ownerEntry{}}
}

func (c *ownerCache) rotate(now time.Time) {
	if c.rotated.IsZero() {
		c.rotated = now
	}
	if now.Sub(c.rotated) >= ownerTTL {
		c.prev, c.cur = c.cur, make(map[string]ownerEntry, len(c.cur))
		if now.Sub(c.rotated) >= 2*ownerTTL {
			clear(c.prev)
		}
		c.rotated = now
	}
}

func (c *ownerCache) get(callID string, now time.Time) (ownerEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	if e, ok := c.cur[callID]; ok {
		return e, true
	}
	e, ok := c.prev[callID]
	return e, ok
}

func (c *ownerCache) put(callID string, e ownerEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	c.cur[callID] = e
	delete(c.prev, callID)
}

func (c *ownerCache) forget(callID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cur, callID)
	delete(c.prev, callID)
}

func (c *ownerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}

// liveness is what the node table knows of a node's heartbeat continuity.
type liveness struct {
	gen   uint64    // changes at every gap, restart or reappearance
	since time.Time // on the edge's clock, when gen began
	seen  time.Time // on the edge's clock, when its last heartbeat arrived
}

// observe records heartbeat h arriving at now, after prev (ok false: the
// first seen), and returns the node's liveness. Called with t.mu held.
func (t *nodeTable) observe(h sipbus.Heartbeat, prev sipbus.Heartbeat, ok bool, now time.Time) {
	l, known := t.live[h.ID]
	if !ok || !known || now.Sub(l.seen) > beatGap || h.ExpiresAt.Sub(prev.ExpiresAt) > beatGap ||
		!h.StartedAt.Equal(prev.StartedAt) || h.Draining || prev.Draining {
		t.genSeq++
		l.gen, l.since = t.genSeq, now
	}
	l.seen = now
	t.live[h.ID] = l
}

// steady returns node id's liveness generation, and when it began, when
// the node is heart-beating without a gap and not draining: a remembered
// owner of that generation may be trusted (ownerCache).
func (t *nodeTable) steady(id string) (gen uint64, since time.Time, ok bool) {
	now := t.clk.Now()
	t.mu.RLock()
	defer t.mu.RUnlock()
	h, ok := t.nodes[id]
	l, known := t.live[id]
	if !ok || !known || h.Draining || now.Sub(l.seen) > beatGap || !h.ExpiresAt.After(now) {
		return 0, time.Time{}, false
	}
	return l.gen, l.since, true
}

// remember caches an owner read from KV by a read that started at start.
// Only an owner steady since the read began qualifies: had it lapsed
// and come back since, the value read may predate a takeover.
func (e *Edge) remember(callID string, o sipbus.CallOwner, start time.Time) {
	gen, since, ok := e.nodes.steady(o.OwnerNode)
	if !ok || since.After(start) {
		e.owners.forget(callID)
		return
	}
	e.owners.put(callID, ownerEntry{owner: o, gen: gen}, e.clk.Now())
}

// staleEpoch reports whether a node's message about callID under epoch
// must be dropped: the call's key holds a higher epoch. A remembered
// owner answers when it can (see above); otherwise KV is read.
func (e *Edge) staleEpoch(ctx context.Context, callID string, epoch uint64) (bool, error) {
	if ce, ok := e.owners.get(callID, e.clk.Now()); ok {
		if ce.owner.Epoch > epoch {
			return true, nil // epochs only rise
		}
		if gen, _, ok := e.nodes.steady(ce.owner.OwnerNode); ok && gen == ce.gen {
			return false, nil
		}
	}
	o, ok, err := e.owner(ctx, callID)
	if err != nil {
		return false, err
	}
	return ok && o.Epoch > epoch, nil
}

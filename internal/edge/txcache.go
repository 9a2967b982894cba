package edge

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/strowger/strowger/internal/clock"
)

// txCache remembers the final answers the edge gave itself, keyed by
// server transaction (RFC 3261 §17.2.3), so that a retransmitted request
// gets the very same bytes and causes no second side effect (no second
// binding write, no nc replay failure, no second failure count). While the
// first copy is still being handled, retransmissions are ignored.
type txCache struct {
	clk    clock.Clock
	linger time.Duration
	seeds  [2]maphash.Seed
	shards [64]txShard
}

// txHash stands for a transaction key: two independent 64-bit hashes, so
// the map holds no strings (less memory, nothing for the GC to scan); a
// collision between live transactions is a 2^-128 event.
type txHash [2]uint64

type txShard struct {
	mu sync.Mutex
	m  map[txHash]txEntry
}

type txEntry struct {
	resp    []byte // nil while pending
	expires int64  // unix ns on the edge's clock
}

type txState int

const (
	txNew txState = iota
	txPending
	txDone
)

func newTxCache(clk clock.Clock, linger time.Duration) *txCache {
	c := &txCache{clk: clk, linger: linger, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range c.shards {
		c.shards[i].m = make(map[txHash]txEntry)
	}
	return c
}

func (c *txCache) hash(key string) (txHash, *txShard) {
	h := txHash{maphash.String(c.seeds[0], key), maphash.String(c.seeds[1], key)}
	return h, &c.shards[h[0]%uint64(len(c.shards))]
}

// begin claims key. It returns txNew (caller handles the request and must
// call finish or forget), txPending (drop: the first copy is in progress)
// or txDone with the answer to resend.
func (c *txCache) begin(key string) (txState, []byte) {
	now := c.clk.Now().UnixNano()
	h, s := c.hash(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[h]; ok && now < e.expires {
		if e.resp == nil {
			return txPending, nil
		}
		return txDone, e.resp
	}
	// Pending entries expire too, so a handler stuck on a dead dependency
	// does not make the transaction unanswerable forever.
	s.m[h] = txEntry{expires: now + int64(c.linger)}
	return txNew, nil
}

// finish records the final answer for key.
func (c *txCache) finish(key string, resp []byte) { c.finishFor(key, resp, c.linger) }

// finishFor records the final answer for key, kept for linger.
func (c *txCache) finishFor(key string, resp []byte, linger time.Duration) {
	h, s := c.hash(key)
	s.mu.Lock()
	s.m[h] = txEntry{resp: resp, expires: c.clk.Now().UnixNano() + int64(linger)}
	s.mu.Unlock()
}

// forget drops key (requests relayed to a node, whose own transaction
// layer absorbs retransmissions).
func (c *txCache) forget(key string) {
	h, s := c.hash(key)
	s.mu.Lock()
	delete(s.m, h)
	s.mu.Unlock()
}

func (c *txCache) sweep() {
	now := c.clk.Now().UnixNano()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if now >= e.expires {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// fwdCache remembers which media node got a new request, so that its
// retransmissions, its CANCEL and the ACK of a non-2xx answer follow it
// (they share its Call-ID and top Via branch).
type fwdCache struct {
	clk clock.Clock
	mu  sync.Mutex
	m   map[string]fwdEntry
}

type fwdEntry struct {
	node    string
	subject string
	expires time.Time
}

// fwdLinger covers an INVITE transaction's life (Timer B/H, 64*T1) plus
// a ringing time; afterwards in-dialog routing uses call ownership.
const fwdLinger = 3 * time.Minute

func newFwdCache(clk clock.Clock) *fwdCache {
	return &fwdCache{clk: clk, m: make(map[string]fwdEntry)}
}

func (f *fwdCache) get(key string) (fwdEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[key]
	if !ok || !f.clk.Now().Before(e.expires) {
		return fwdEntry{}, false
	}
	return e, true
}

func (f *fwdCache) put(key, node, subject string) {
	f.mu.Lock()
	f.m[key] = fwdEntry{node: node, subject: subject, expires: f.clk.Now().Add(fwdLinger)}
	f.mu.Unlock()
}

func (f *fwdCache) sweep() {
	now := f.clk.Now()
	f.mu.Lock()
	for k, e := range f.m {
		if !now.Before(e.expires) {
			delete(f.m, k)
		}
	}
	f.mu.Unlock()
}

package b2bua

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// countingDocs serves one fixed document body and counts reads.
type countingDocs struct {
	reads atomic.Int64
	rev   atomic.Uint64
	err   error
	// during runs inside Get, after the read (a racing invalidation).
	during func()
}

func (d *countingDocs) Get(_ context.Context, account, typ, id string) (*store.Doc, error) {
	d.reads.Add(1)
	if d.err != nil {
		return nil, d.err
	}
	doc := &store.Doc{Account: account, Type: typ, ID: id, Rev: d.rev.Load(),
		Body: map[string]any{"name": "x", "sip": map[string]any{"username": "u"}, "list": []any{"a"}}}
	if d.during != nil {
		d.during()
	}
	return doc, nil
}

func (d *countingDocs) List(context.Context, string, string) ([]*store.Doc, error) { return nil, nil }

func TestDocCache(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewFake(time.Unix(1000, 0))
	under := &countingDocs{}
	var stale atomic.Uint64
	c := newDocCache(under, clk, 3, stale.Load)
	get := func(id string) *store.Doc {
		t.Helper()
		d, err := c.Get(ctx, "acct", "device", id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	expectReads := func(n int64, what string) {
		t.Helper()
		if got := under.reads.Load(); got != n {
			t.Fatalf("%s: %d reads, want %d", what, got, n)
		}
	}

	get("d1")
	if d := get("d1"); d.Body["name"] != "x" {
		t.Fatalf("cached %v", d.Body)
	}
	expectReads(1, "a second read")

	// An event for another document leaves it; one for it drops it.
	c.invalidate(store.DocEvent{Account: "acct", Type: "device", ID: "d2"})
	get("d1")
	expectReads(1, "after another document's event")
	under.rev.Store(2)
	c.invalidate(store.DocEvent{Account: "acct", Type: "device", ID: "d1", Rev: 2})
	if d := get("d1"); d.Rev != 2 {
		t.Fatalf("after its event: rev %d", d.Rev)
	}
	expectReads(2, "after its event")

	// Entries expire without events.
	clk.Advance(docTTL)
	get("d1")
	expectReads(3, "after the TTL")

	// Events may have been lost (reconnect, dropped messages): all go.
	stale.Add(1)
	get("d1")
	expectReads(4, "after events may have been lost")

	// A read that an invalidation overtakes does not store what it read.
	under.during = func() { c.invalidate(store.DocEvent{Account: "acct", Type: "device", ID: "d1"}) }
	c.reset()
	get("d1")
	under.during = nil
	get("d1")
	expectReads(6, "after a racing invalidation")

	// Errors and misses are not kept.
	under.err = store.ErrNotFound
	for range 2 {
		if _, err := c.Get(ctx, "acct", "device", "gone"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing document: %v", err)
		}
	}
	expectReads(8, "misses")
	under.err = nil

	// Bounded: past max the cache starts over.
	get("a")
	get("b")
	get("c")
	if n := c.len(); n > 3 {
		t.Fatalf("%d entries, max 3", n)
	}
}

// Callflow modules get their own copy of a cached document (Call.Doc).
func TestDocCopiesForModules(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, _ := answerCall(en, alice, bob)
	en.waitAcked(d.callID)
	var first, second map[string]any
	en.inCall(d.callID, func(c *call) {
		first, _ = c.Doc(t.Context(), store.TypeDevice, en.devs["101"])
		first["name"] = "changed"
		first["sip"].(map[string]any)["username"] = "changed"
		second, _ = c.Doc(t.Context(), store.TypeDevice, en.devs["101"])
	})
	if first == nil || second == nil || second["name"] != "bob phone" || second["sip"].(map[string]any)["username"] != "101" {
		t.Fatalf("a module's change reached the cache: %v", second)
	}
	alice.hangUp(d, bob)
	en.noLiveCalls()
}

// A device disabled through the store is not rung by the next call: the
// document event reaches the node's cache.
func TestDocCacheFollowsChanges(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	en.setRouter(en.bridgeReporting(res, callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, bob := en.registeredPair()
	d, _ := answerCall(en, alice, bob)
	alice.hangUp(d, bob)
	if got := res.next(t); got.Outcome != callflow.Answered {
		t.Fatalf("first call: %v", got.Outcome)
	}
	en.noLiveCalls()
	dc := en.b2b.d.Docs.(*docCache)
	key := docKey{en.acct, store.TypeDevice, en.devs["101"]}
	cached := func() bool { return dc.entries.Contains(key) }
	if !cached() {
		t.Fatal("the callee's device was not cached")
	}
	en.setField(store.TypeDevice, en.devs["101"], "enabled", false)
	waitFor(t, "the device's event to reach the cache", func() bool { return !cached() })
	d = alice.call("101", alice.sdpBody(1, "", 0))
	alice.ackFailure(d, alice.resp(480))
	if got := res.next(t); got.Outcome != callflow.Unavailable {
		t.Fatalf("disabled device: %v", got.Outcome)
	}
	bob.quiet()
	en.noLiveCalls()
}

package location_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/store"
)

// twoEdges returns two mirrored stores on one bucket, as two edge nodes
// would have, sharing one clock.
func twoEdges(t *testing.T) (a, b *location.Store, clk *clock.Fake) {
	t.Helper()
	s := bustest.Start(t)
	bk, err := store.Provision(context.Background(), s.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk = clock.NewFake(time.Unix(1_800_000_000, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// One binding exists before the mirrors start: they must load it.
	pre := location.New(s.JS, bk.Registrations, clk)
	if _, err := pre.Save(ctx, binding(clk, "zed", "sip:zed@10.0.0.9", 600)); err != nil {
		t.Fatal(err)
	}
	a = location.New(s.JS, bk.Registrations, clk)
	b = location.New(s.JS, bk.Registrations, clk)
	for _, st := range []*location.Store{a, b} {
		if err := st.StartMirror(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.StopMirror)
	}
	return a, b, clk
}

// await polls the mirror of st until user has want bindings (bounded).
func await(t *testing.T, st *location.Store, user string, want int) []location.Binding {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got, err := st.Lookup(context.Background(), acct, user)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d bindings in the mirror, want %d", user, len(got), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMirrorLoadsAndFollowsOtherNodes(t *testing.T) {
	t.Parallel()
	a, b, clk := twoEdges(t)
	ctx := context.Background()
	if got, _ := a.Lookup(ctx, acct, "zed"); len(got) != 1 {
		t.Fatalf("existing binding not loaded: %v", got)
	}
	// Own writes are visible at once, without waiting for the watch.
	rev, err := a.Save(ctx, binding(clk, "alice", "sip:alice@10.0.0.1", 600))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Lookup(ctx, acct, "alice"); len(got) != 1 || got[0].Revision != rev {
		t.Fatalf("own write not in mirror: %+v", got)
	}
	// The other node sees it through the watch, at the same revision.
	if got := await(t, b, "alice", 1); got[0].Revision != rev {
		t.Fatalf("revision %d on b, want %d", got[0].Revision, rev)
	}
	// b refreshes it (CAS at the mirrored revision); a follows.
	bb := binding(clk, "alice", "sip:alice@10.0.0.1", 900)
	bb.Revision = rev
	rev2, err := b.Save(ctx, bb)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		got, _ := a.Lookup(ctx, acct, "alice")
		if len(got) == 1 && got[0].Revision == rev2 && got[0].Expires == 900 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh not mirrored on a: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Removal on b disappears on a; expiry on the clock hides the rest.
	if err := b.Remove(ctx, acct, "alice", location.BindingID("sip:alice@10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	await(t, a, "alice", 0)
	if got, _ := b.Lookup(ctx, acct, "alice"); len(got) != 0 {
		t.Fatalf("own removal still mirrored: %v", got)
	}
	clk.Advance(601 * time.Second)
	if got, _ := a.Lookup(ctx, acct, "zed"); len(got) != 0 {
		t.Fatalf("expired binding served: %v", got)
	}
	a.Sweep()
	if n := a.Mirrored(); n != 1 {
		t.Fatalf("%d bindings in the mirror, want 1 until the KV grace passes", n)
	}
	clk.Advance(31 * time.Second)
	a.Sweep()
	if n := a.Mirrored(); n != 0 {
		t.Fatalf("%d bindings left in the mirror after sweep", n)
	}
}

func TestMirrorStaleRefreshConflictsAndPutDoesNotDuplicate(t *testing.T) {
	t.Parallel()
	a, b, clk := twoEdges(t)
	ctx := context.Background()
	rev, err := a.Save(ctx, binding(clk, "bob", "sip:bob@10.0.0.2", 600))
	if err != nil {
		t.Fatal(err)
	}
	await(t, b, "bob", 1)
	// a refreshes twice; b writes with the first revision (as if its
	// mirror lagged): the CAS refuses it.
	for i := range 2 {
		x := binding(clk, "bob", "sip:bob@10.0.0.2", 600+i)
		x.Revision = rev
		if rev, err = a.Save(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	stale := binding(clk, "bob", "sip:bob@10.0.0.2", 700)
	stale.Revision = rev - 1
	if _, err := b.Save(ctx, stale); !errors.Is(err, location.ErrConflict) {
		t.Fatalf("stale refresh: %v", err)
	}
	// b creating what exists conflicts too; Put resolves against KV.
	if _, err := b.Save(ctx, binding(clk, "bob", "sip:bob@10.0.0.2", 700)); !errors.Is(err, location.ErrConflict) {
		t.Fatalf("create over existing: %v", err)
	}
	if _, err := b.Put(ctx, binding(clk, "bob", "sip:bob@10.0.0.2", 700)); err != nil {
		t.Fatal(err)
	}
	n, err := a.Count(ctx, acct)
	if err != nil || n != 2 { // bob and zed
		t.Fatalf("count in KV = %d %v, want 2 (no duplicate)", n, err)
	}
	if got := await(t, a, "bob", 1); got[0].Expires != 700 {
		t.Fatalf("a mirrors %+v", got[0])
	}
}

func TestMirrorStartsOnce(t *testing.T) {
	t.Parallel()
	ls, _ := setup(t)
	if err := ls.StartMirror(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer ls.StopMirror()
	if err := ls.StartMirror(context.Background()); err == nil {
		t.Fatal("second StartMirror accepted")
	}
}

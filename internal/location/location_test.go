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

const acct = "0123456789abcdef0123456789abcdef"

func setup(t *testing.T) (*location.Store, *clock.Fake) {
	t.Helper()
	s := bustest.Start(t)
	b, err := store.Provision(context.Background(), s.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	return location.New(s.JS, b.Registrations, clk), clk
}

func binding(clk clock.Clock, user, contact string, secs int) location.Binding {
	return location.Binding{AccountID: acct, Username: user, AuthorizingID: "dev-" + user, Contact: contact,
		Expires: secs, ExpiresAt: clk.Now().Unix() + int64(secs), AuthorizingType: "device"}
}

func TestSaveRefreshListFlush(t *testing.T) {
	ls, clk := setup(t)
	ctx := context.Background()
	b1 := binding(clk, "alice", "sip:alice@10.0.0.1:5060", 60)
	rev, err := ls.Save(ctx, b1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Save(ctx, b1); !errors.Is(err, location.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	b1.Revision = rev
	b1.ExpiresAt += 60
	rev2, err := ls.Save(ctx, b1)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if _, err := ls.Save(ctx, b1); !errors.Is(err, location.ErrConflict) {
		t.Fatalf("stale refresh: %v", err)
	}
	_ = rev2
	if _, err := ls.Put(ctx, binding(clk, "alice", "sip:alice@10.0.0.2:5060", 30)); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Put(ctx, binding(clk, "bob", "sip:bob@10.0.0.3:5060", 30)); err != nil {
		t.Fatal(err)
	}
	got, err := ls.Lookup(ctx, acct, "alice")
	if err != nil || len(got) != 2 {
		t.Fatalf("lookup alice: %d %v", len(got), err)
	}
	if n, _ := ls.Count(ctx, acct); n != 3 {
		t.Fatalf("count = %d", n)
	}
	st, _ := ls.DeviceStatus(ctx, acct)
	if !st["dev-alice"] || !st["dev-bob"] {
		t.Fatalf("status %v", st)
	}
	// Expiry on the injected clock: the 30 s bindings go, the 120 s one stays.
	clk.Advance(31 * time.Second)
	got, _ = ls.Lookup(ctx, acct, "alice")
	if len(got) != 1 || got[0].Contact != "sip:alice@10.0.0.1:5060" {
		t.Fatalf("after expiry: %+v", got)
	}
	if n, _ := ls.FlushUser(ctx, acct, "alice"); n != 2 {
		t.Fatalf("flush user removed %d, want 2 (live and expired)", n)
	}
	if n, _ := ls.Count(ctx, acct); n != 0 {
		t.Fatalf("count after flush user = %d", n)
	}
	// A removed binding can be created again.
	if _, err := ls.Save(ctx, binding(clk, "alice", "sip:alice@10.0.0.1:5060", 60)); err != nil {
		t.Fatalf("re-create after purge: %v", err)
	}
	if n, _ := ls.Flush(ctx, acct); n != 2 {
		t.Fatalf("flush removed %d", n)
	}
}

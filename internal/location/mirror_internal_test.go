package location

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

type fakeEntry struct {
	key string
	val []byte
	rev uint64
	op  jetstream.KeyValueOp
}

func (e fakeEntry) Bucket() string                  { return "test" }
func (e fakeEntry) Key() string                     { return e.key }
func (e fakeEntry) Value() []byte                   { return e.val }
func (e fakeEntry) Revision() uint64                { return e.rev }
func (e fakeEntry) Created() time.Time              { return time.Time{} }
func (e fakeEntry) Delta() uint64                   { return 0 }
func (e fakeEntry) Operation() jetstream.KeyValueOp { return e.op }

type fakeWatcher struct{ ch chan jetstream.KeyValueEntry }

func (w fakeWatcher) Updates() <-chan jetstream.KeyValueEntry { return w.ch }
func (w fakeWatcher) Stop() error                             { return nil }

// TestMirrorRewatchReplacesStaleCopy: after its watch ended, the mirror
// reads KV (stale) until a new watch has loaded the whole bucket, whose
// copy then replaces the old one, dropping keys deleted in between.
func TestMirrorRewatchReplacesStaleCopy(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	s := &Store{clk: clk}
	m := &mirror{aors: map[string]map[string]mirrorEntry{}, ready: make(chan struct{})}
	gone := Binding{Username: "gone", Contact: "sip:gone@x", ExpiresAt: clk.Now().Unix() + 600}
	m.apply("acct.gone.b1", 5, &gone, nil, false)
	m.stale.Store(true)

	kept, _ := json.Marshal(Binding{Username: "kept", Contact: "sip:kept@x", ExpiresAt: clk.Now().Unix() + 600})
	w := fakeWatcher{ch: make(chan jetstream.KeyValueEntry, 4)}
	w.ch <- fakeEntry{key: "acct.kept.b2", val: kept, rev: 9, op: jetstream.KeyValuePut}
	w.ch <- nil
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.follow(ctx, m, w, false); close(done) }()
	deadline := time.Now().Add(3 * time.Second)
	for m.stale.Load() {
		if time.Now().After(deadline) {
			t.Fatal("mirror still stale after the new watch loaded")
		}
		time.Sleep(time.Millisecond)
	}
	if got := m.lookup("acct.gone", clk.Now()); len(got) != 0 {
		t.Fatalf("binding deleted during the gap still mirrored: %v", got)
	}
	if got := m.lookup("acct.kept", clk.Now()); len(got) != 1 || got[0].Revision != 9 {
		t.Fatalf("new copy: %+v", got)
	}
	// Updates after the swap go to the live copy.
	w.ch <- fakeEntry{key: "acct.kept.b2", rev: 10, op: jetstream.KeyValuePurge}
	for len(m.lookup("acct.kept", clk.Now())) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("update after the swap not applied")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

// TestLookupMissReadsKV: for calls (Reachable), a mirror that has not yet seen a binding written
// by another node (its watch trails KV) does not make the phone look
// unregistered: a miss is checked against KV.
func TestLookupMissReadsKV(t *testing.T) {
	srv := bustest.Start(t)
	bk, err := store.Provision(context.Background(), srv.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	other := New(srv.JS, bk.Registrations, clk)
	const acct = "0123456789abcdef0123456789abcdef"
	b := Binding{AccountID: acct, Username: "alice", AuthorizingID: "dev-alice", AuthorizingType: "device",
		Contact: "sip:alice@10.0.0.1", ExpiresAt: clk.Now().Unix() + 600, Expires: 600}
	if _, err := other.Save(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	// This node's mirror is ready but never received the write.
	s := New(srv.JS, bk.Registrations, clk)
	s.mir = &mirror{aors: map[string]map[string]mirrorEntry{}, ready: make(chan struct{})}
	got, err := s.Reachable(t.Context(), acct, "alice")
	if err != nil || len(got) != 1 || got[0].Contact != b.Contact {
		t.Fatalf("lookup after a lagging mirror: %+v, %v", got, err)
	}
	// The registrar's Lookup stays on the mirror.
	if got, err := s.Lookup(t.Context(), acct, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("mirror-only lookup: %+v, %v", got, err)
	}
	if got, err := s.Reachable(t.Context(), acct, "bob"); err != nil || len(got) != 0 {
		t.Fatalf("unknown user: %+v, %v", got, err)
	}
}

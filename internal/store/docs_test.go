package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
	"github.com/strowger/strowger/internal/validation"
)

func newStore(t *testing.T) (*store.Store, *bustest.Server) {
	t.Helper()
	s := bustest.Start(t)
	b, err := store.Provision(context.Background(), s.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return store.New(b, s.Conn, slog.New(slog.NewTextHandler(io.Discard, nil)), clock.Real()), s
}

func newStoreClock(t *testing.T, clk clock.Clock) *store.Store {
	t.Helper()
	s := bustest.Start(t)
	b, err := store.Provision(context.Background(), s.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return store.New(b, s.Conn, slog.New(slog.NewTextHandler(io.Discard, nil)), clk)
}

func device(acct, user string) *store.Doc {
	return &store.Doc{Account: acct, Type: store.TypeDevice, Body: map[string]any{
		"name": "phone " + user, "sip": map[string]any{"username": user, "password": "secret123"},
	}}
}

func TestCreateGetUpdateDelete(t *testing.T) {
	st, srv := newStore(t)
	ctx := context.Background()
	acct := store.NewID()
	events := make(chan *nats.Msg, 10)
	sub, err := srv.Conn.ChanSubscribe(bus.DocEventsAccount(acct), events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	d, err := st.Create(ctx, device(acct, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, acct, store.TypeDevice, d.ID)
	if err != nil || got.Rev != d.Rev || got.Body["pvt_type"] != "device" || got.Body["pvt_account_id"] != acct {
		t.Fatalf("get: %v %+v", err, got)
	}
	up, err := st.Update(ctx, acct, store.TypeDevice, d.ID, d.Rev, func(cur map[string]any) (map[string]any, error) {
		cur["name"] = "renamed"
		delete(cur, "pvt_type") // private fields are carried over regardless
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Rev <= d.Rev || up.Body["pvt_type"] != "device" || up.Body["name"] != "renamed" {
		t.Fatalf("update: %+v", up)
	}
	// A stale revision is refused and changes nothing.
	_, err = st.Update(ctx, acct, store.TypeDevice, d.ID, d.Rev, func(cur map[string]any) (map[string]any, error) {
		cur["name"] = "stale"
		return cur, nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := st.Delete(ctx, acct, store.TypeDevice, d.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, acct, store.TypeDevice, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	// The username is free again.
	if _, err := st.Create(ctx, device(acct, "alice")); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
	var actions []string
	for len(actions) < 4 {
		m := <-events
		actions = append(actions, string(m.Data))
	}
	for i, want := range []string{"created", "updated", "deleted", "created"} {
		if !contains(actions[i], `"action":"`+want+`"`) {
			t.Fatalf("event %d = %s, want %s", i, actions[i], want)
		}
	}
}

func contains(s, sub string) bool { return len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0) }
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestParallelCreatesSameUsernameOneWins(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	acct := store.NewID()
	const n = 16
	var wins, uniques atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Create(ctx, device(acct, "bob"))
			var verr validation.Errors
			switch {
			case err == nil:
				wins.Add(1)
			case errors.As(err, &verr) && verr.Has("sip.username", "unique"):
				uniques.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || uniques.Load() != n-1 {
		t.Fatalf("wins=%d unique errors=%d", wins.Load(), uniques.Load())
	}
	docs, err := st.List(ctx, acct, store.TypeDevice)
	if err != nil || len(docs) != 1 {
		t.Fatalf("list: %v %d", err, len(docs))
	}
}

func TestParallelUpdatesSameRevisionOneWins(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	acct := store.NewID()
	d, err := st.Create(ctx, device(acct, "carol"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := st.Update(ctx, acct, store.TypeDevice, d.ID, d.Rev, func(cur map[string]any) (map[string]any, error) {
				cur["name"] = fmt.Sprint("writer ", i)
				return cur, nil
			})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Fatalf("wins=%d conflicts=%d", wins.Load(), conflicts.Load())
	}
}

func TestParallelMergesKeepEveryField(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	acct := store.NewID()
	d, err := st.Create(ctx, device(acct, "dave"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := st.Update(ctx, acct, store.TypeDevice, d.ID, 0, func(cur map[string]any) (map[string]any, error) {
				cur[fmt.Sprint("field_", i)] = i
				return cur, nil
			})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	got, err := st.Get(ctx, acct, store.TypeDevice, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, ok := got.Body[fmt.Sprint("field_", i)]; !ok {
			t.Fatalf("field_%d lost: %v", i, got.Body)
		}
	}
}

func TestUniqueValueMovesOnUpdate(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	acct := store.NewID()
	a, _ := st.Create(ctx, device(acct, "erin"))
	b, _ := st.Create(ctx, device(acct, "frank"))
	// b cannot take a's username.
	_, err := st.Update(ctx, acct, store.TypeDevice, b.ID, 0, func(cur map[string]any) (map[string]any, error) {
		cur["sip"].(map[string]any)["username"] = "erin"
		return cur, nil
	})
	var verr validation.Errors
	if !errors.As(err, &verr) || !verr.Has("sip.username", "unique") {
		t.Fatalf("taking a held username: %v", err)
	}
	// a renames; erin is then free for b, and frank is free for a third.
	if _, err := st.Update(ctx, acct, store.TypeDevice, a.ID, 0, func(cur map[string]any) (map[string]any, error) {
		cur["sip"].(map[string]any)["username"] = "erin2"
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx, acct, store.TypeDevice, b.ID, 0, func(cur map[string]any) (map[string]any, error) {
		cur["sip"].(map[string]any)["username"] = "erin"
		return cur, nil
	}); err != nil {
		t.Fatalf("taking a released username: %v", err)
	}
	if _, err := st.Create(ctx, device(acct, "frank")); err != nil {
		t.Fatalf("frank not released: %v", err)
	}
	// The same username in another account is fine.
	if _, err := st.Create(ctx, device(store.NewID(), "erin")); err != nil {
		t.Fatal(err)
	}
}

func TestStaleIndexClaimIsTakenOver(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	st := newStoreClock(t, clk)
	ctx := context.Background()
	acct := store.NewID()
	// Simulate a writer that claimed the index and died before its document.
	ghost := store.NewID()
	_, err := st.Buckets().Index.Create(ctx, store.IndexSIPUser(acct, "gina"),
		[]byte(fmt.Sprintf(`{"account":%q,"type":"device","id":%q,"at":%d}`, acct, ghost, clk.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	// While the claim is fresh its writer may still be about to write the
	// document: the value stays taken.
	_, err = st.Create(ctx, device(acct, "gina"))
	var verr validation.Errors
	if !errors.As(err, &verr) || !verr.Has("sip.username", "unique") {
		t.Fatalf("fresh claim not honoured: %v", err)
	}
	clk.Advance(store.ClaimGrace + time.Second)
	if _, err := st.Create(ctx, device(acct, "gina")); err != nil {
		t.Fatalf("stale claim blocked the value: %v", err)
	}
}

func TestSIPCredential(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	acct := store.NewID()
	if _, err := st.Create(ctx, &store.Doc{Account: acct, Type: store.TypeAccount, ID: acct,
		Body: map[string]any{"name": "Acme", "realm": "Acme.Example.com"}}); err != nil {
		t.Fatal(err)
	}
	d, err := st.Create(ctx, device(acct, "hank"))
	if err != nil {
		t.Fatal(err)
	}
	cred, ok, err := st.SIPCredential(ctx, "acme.example.com", "hank")
	if err != nil || !ok || cred.DeviceID != d.ID || cred.Password != "secret123" || cred.AccountID != acct {
		t.Fatalf("lookup: %v %v %+v", err, ok, cred)
	}
	for _, c := range [][2]string{{"acme.example.com", "nobody"}, {"other.example.com", "hank"}, {"acme.example.com", "HANK"}} {
		if _, ok, err := st.SIPCredential(ctx, c[0], c[1]); ok || err != nil {
			t.Fatalf("%v found=%v err=%v", c, ok, err)
		}
	}
	if _, err := st.Update(ctx, acct, store.TypeDevice, d.ID, 0, func(cur map[string]any) (map[string]any, error) {
		cur["enabled"] = false
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.SIPCredential(ctx, "acme.example.com", "hank"); ok {
		t.Fatal("disabled device found")
	}
}

// Every acknowledged write waits for a flush of the store that began after
// it (group commit), so it survives a power loss, not just kill -9.
func TestWritesWaitForStoreSync(t *testing.T) {
	st, srv := newStore(t)
	if srv.Embedded.SyncMode() != bus.SyncGroup {
		t.Skip("group commit not supported here")
	}
	ctx := context.Background()
	acct := store.NewID()
	step := func(name string, f func() error) {
		t.Helper()
		before := srv.Embedded.SyncRounds()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if srv.Embedded.SyncRounds() <= before {
			t.Fatalf("%s returned before a store flush", name)
		}
	}
	var d *store.Doc
	step("create", func() (err error) { d, err = st.Create(ctx, device(acct, "sync1")); return err })
	step("update", func() error {
		_, err := st.Update(ctx, acct, store.TypeDevice, d.ID, 0, func(m map[string]any) (map[string]any, error) {
			m["name"] = "renamed"
			return m, nil
		})
		return err
	})
	step("set private", func() error { return st.SetPrivate(ctx, acct, store.TypeDevice, d.ID, "pvt_x", "y") })
	step("delete", func() error { _, err := st.Delete(ctx, acct, store.TypeDevice, d.ID, 0); return err })
	step("system value", func() error { _, err := st.CreateSystemValue(ctx, "test.key", []byte("v")); return err })
}

// BenchmarkDurableCreateParallel measures durable creates (index claim +
// document + sync) from 16 goroutines per CPU, with group commit (the
// default) and with JetStream's fsync of every message, and how many
// creates share one flush of the store under group commit:
//
//	go test -run=NONE -bench=DurableCreateParallel -benchtime=3s ./internal/store/
func BenchmarkDurableCreateParallel(b *testing.B) {
	for _, mode := range []bus.SyncMode{bus.SyncGroup, bus.SyncEveryWrite} {
		b.Run(mode.String(), func(b *testing.B) {
			ctx := context.Background()
			e, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: b.TempDir(), ServerName: "bench", Sync: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Shutdown()
			nc, err := e.Connect("bench")
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := bus.JetStream(nc)
			bk, err := store.Provision(ctx, js, store.ProvisionOptions{})
			if err != nil {
				b.Fatal(err)
			}
			st := store.New(bk, nc, slog.New(slog.NewTextHandler(io.Discard, nil)), clock.Real())
			acct := store.NewID()
			var n atomic.Int64
			before := e.SyncRounds()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.Create(ctx, device(acct, fmt.Sprint("bench", n.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if rounds := e.SyncRounds() - before; rounds > 0 {
				b.ReportMetric(float64(b.N)/float64(rounds), "creates/flush")
			}
		})
	}
}

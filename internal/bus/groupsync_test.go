package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A flush in progress does not release waiters that arrived during it:
// they share the next flush, one for all of them.
func TestGroupSyncLateWaitersShareNextFlush(t *testing.T) {
	started := make(chan int, 4)
	proceed := make(chan struct{})
	n := 0
	g := newGroupSync(func() error {
		n++
		started <- n
		<-proceed
		return nil
	})
	defer g.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first := make(chan error, 1)
	go func() { first <- g.Sync(ctx) }()
	if got := <-started; got != 1 {
		t.Fatalf("first flush is #%d", got)
	}
	// Flush #1 is running; these writers' data may not be in it.
	late := make(chan error, 3)
	for range 3 {
		g.enqueue(func(err error) { late <- err })
	}
	select {
	case err := <-late:
		t.Fatalf("a late waiter was released by the flush in progress (err %v)", err)
	default:
	}
	proceed <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := <-started; got != 2 {
		t.Fatalf("second flush is #%d", got)
	}
	select {
	case err := <-late:
		t.Fatalf("a late waiter was released before its flush finished (err %v)", err)
	default:
	}
	proceed <- struct{}{}
	for range 3 {
		if err := <-late; err != nil {
			t.Fatal(err)
		}
	}
	if r := g.rounds.Load(); r != 2 {
		t.Fatalf("%d flushes for 4 waiters in 2 groups, want 2", r)
	}
}

func TestGroupSyncReportsFlushErrors(t *testing.T) {
	boom := errors.New("disk gone")
	g := newGroupSync(func() error { return boom })
	defer g.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Sync(ctx); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want %v", err, boom)
	}
}

func TestGroupSyncStop(t *testing.T) {
	g := newGroupSync(func() error { return nil })
	g.stop()
	g.stop() // idempotent
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Sync(ctx); !errors.Is(err, ErrSyncClosed) {
		t.Fatalf("Sync after stop = %v, want ErrSyncClosed", err)
	}
}

func TestGroupSyncHonoursContext(t *testing.T) {
	proceed := make(chan struct{})
	g := newGroupSync(func() error { <-proceed; return nil })
	defer g.stop()
	defer close(proceed)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled context = %v", err)
	}
}

func startTestServer(t *testing.T, o EmbeddedOptions) *Embedded {
	t.Helper()
	o.StoreDir = t.TempDir()
	o.ServerName = "test"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// The default mode is group commit: a write followed by RequestSync costs
// one flush of the store, and RequestSync reports success.
func TestRequestSyncGroupCommit(t *testing.T) {
	e := startTestServer(t, EmbeddedOptions{})
	if !groupCommitSupported {
		t.Skip("no group commit on this OS")
	}
	if e.SyncMode() != SyncGroup {
		t.Fatalf("mode %v", e.SyncMode())
	}
	nc, err := e.Connect("t")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, _ := JetStream(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	before := e.SyncRounds()
	if err := RequestSync(ctx, nc); err != nil {
		t.Fatal(err)
	}
	if e.SyncRounds() <= before {
		t.Fatal("RequestSync answered without a flush")
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// In periodic and per-write modes RequestSync answers at once.
func TestRequestSyncOtherModes(t *testing.T) {
	for _, o := range []EmbeddedOptions{{Sync: SyncEveryWrite}, {Sync: SyncPeriodic, SyncInterval: time.Minute}} {
		t.Run(o.Sync.String(), func(t *testing.T) {
			e := startTestServer(t, o)
			nc, err := e.Connect("t")
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := RequestSync(ctx, nc); err != nil {
				t.Fatal(err)
			}
			if e.SyncRounds() != 0 {
				t.Fatal("flushed in a mode without group commit")
			}
		})
	}
}

// Without a Strowger node answering (an external NATS), durability is the
// server's own business and RequestSync does not fail.
func TestRequestSyncNoResponders(t *testing.T) {
	e := startTestServer(t, EmbeddedOptions{Sync: SyncEveryWrite})
	e.syncNC.Close()
	nc, err := e.Connect("t")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := RequestSync(ctx, nc); err != nil {
		t.Fatalf("RequestSync with no responders = %v", err)
	}
}

func TestStartEmbeddedRejectsBadSyncOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, o := range []EmbeddedOptions{{Sync: SyncPeriodic}, {Sync: SyncMode(42)}} {
		o.StoreDir = t.TempDir()
		if e, err := StartEmbedded(ctx, o); err == nil {
			e.Shutdown()
			t.Fatalf("%v accepted", o.Sync)
		}
	}
}

package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Durable writes by group commit.
//
// The embedded server runs without JetStream's fsync-per-message: every
// write still reaches the kernel before it is acknowledged (so it survives
// kill -9), and a writer that needs its write on stable storage before it
// answers its own client asks for it on StoreSync. The server's node
// answers after one flush of the whole store that started after the request
// arrived, so all concurrent writers share one flush instead of queueing
// for one fsync each under the stream's lock.

// ErrSyncClosed is returned to waiters when the syncer stops.
var ErrSyncClosed = errors.New("store syncer stopped")

// groupSync runs flush once per group of waiters. Waiters that arrive while
// a flush runs wait for the next one: only a flush that starts after a
// waiter registered covers that waiter's writes.
type groupSync struct {
	flush   func() error
	mu      sync.Mutex
	waiters []func(error)
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	rounds  atomic.Uint64
}

func newGroupSync(flush func() error) *groupSync {
	g := &groupSync{flush: flush, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go g.loop()
	return g
}

// enqueue registers fn to be called with the outcome of the next flush.
func (g *groupSync) enqueue(fn func(error)) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		fn(ErrSyncClosed)
		return
	}
	g.waiters = append(g.waiters, fn)
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Sync blocks until a flush that started after the call has finished.
func (g *groupSync) Sync(ctx context.Context) error {
	ch := make(chan error, 1)
	g.enqueue(func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *groupSync) loop() {
	defer close(g.done)
	for range g.kick {
		g.mu.Lock()
		batch := g.waiters
		g.waiters = nil
		closed := g.closed
		g.mu.Unlock()
		if len(batch) > 0 {
			err := g.flush()
			g.rounds.Add(1)
			for _, fn := range batch {
				fn(err)
			}
		}
		if closed {
			return
		}
	}
}

// stop flushes for the last waiters, then ends the loop.
func (g *groupSync) stop() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	g.mu.Unlock()
	// The loop drains what is queued, flushes once more and exits.
	g.kick <- struct{}{}
	<-g.done
}

// RequestSync asks the node that owns the store's disk to make every write
// acknowledged before this call durable, and waits for the answer. It
// returns nil when no Strowger NATS node answers on StoreSync (an external
// NATS server: its own sync settings decide durability).
func RequestSync(ctx context.Context, nc *nats.Conn) error {
	msg, err := nc.RequestWithContext(ctx, StoreSync, nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store sync: %w", err)
	}
	if len(msg.Data) > 0 {
		return fmt.Errorf("store sync: %s", msg.Data)
	}
	return nil
}

package location

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// mirror is an in-memory copy of the registrations bucket, fed by a KV
// watch over every key, so a registrar reads an address of record's
// bindings without a round trip to JetStream. Every edge node runs one and
// so sees every node's bindings, a few microseconds behind.
//
// The mirror is a read cache only: writes still go to KV with
// compare-and-set, and a write that loses to another node (stale mirror)
// comes back as ErrConflict and is retried against KV itself. The Store
// applies its own successful writes to the mirror at once (read your own
// writes), and every entry carries the KV revision it was written at, so a
// watch update older than what the mirror already holds is ignored.
// Deletions leave a tombstone with the revision of the delete marker until
// the watch has passed that revision.
type mirror struct {
	mu sync.RWMutex
	// aors maps "<account>.<username-token>" to binding ID to entry.
	aors map[string]map[string]mirrorEntry
	// seen is the highest revision the watch delivered.
	seen uint64
	// tombs counts tombstones, so sweep skips the walk when there are none.
	tombs int
	// ready is closed once the watch delivered the bucket's current
	// contents.
	ready  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// mirrorEntry is one key's state. Values from the watch are kept raw and
// decoded on first lookup: most are this node's own writes, which the
// Store applies decoded when acknowledged, and decoding them all again
// showed in profiles.
type mirrorEntry struct {
	b   *Binding // nil while raw or deleted
	raw []byte
	rev uint64
	del bool
}

// splitKey splits a registrations key into its address-of-record part and
// binding ID.
func splitKey(key string) (aor, id string, ok bool) {
	i := strings.LastIndexByte(key, '.')
	if i <= 0 || i == len(key)-1 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// apply records a put (b or raw set) or a deletion at rev unless the
// mirror already holds a newer state of the key, or the same revision
// decoded. Caller holds m.mu.
func (m *mirror) apply(key string, rev uint64, b *Binding, raw []byte, del bool) {
	aor, id, ok := splitKey(key)
	if !ok {
		return
	}
	ids := m.aors[aor]
	if old, ok := ids[id]; ok && (old.rev > rev || old.rev == rev && (old.del || old.b != nil)) {
		return
	} else if ok && old.del {
		m.tombs--
	}
	if ids == nil {
		ids = make(map[string]mirrorEntry, 1)
		m.aors[aor] = ids
	}
	if del {
		ids[id] = mirrorEntry{rev: rev, del: true}
		m.tombs++
		return
	}
	if b != nil {
		b.Revision = rev
	}
	ids[id] = mirrorEntry{b: b, raw: raw, rev: rev}
}

// has reports whether the mirror holds key at rev or newer.
func (m *mirror) has(key string, rev uint64) bool {
	aor, id, ok := splitKey(key)
	if !ok {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.aors[aor][id]
	return ok && e.rev >= rev
}

// lookup returns the bindings of one AOR live at now, decoding raw
// entries on the way (a corrupt value reads as absent, like scanAll).
func (m *mirror) lookup(aor string, now time.Time) []Binding {
	m.mu.RLock()
	ids := m.aors[aor]
	raw := false
	out := make([]Binding, 0, len(ids))
	for _, e := range ids {
		switch {
		case e.del:
		case e.b == nil:
			raw = true
		case e.b.Live(now):
			out = append(out, *e.b)
		}
	}
	m.mu.RUnlock()
	if !raw {
		return out
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out = out[:0]
	for id, e := range m.aors[aor] {
		if e.del {
			continue
		}
		if e.b == nil {
			b := new(Binding)
			if json.Unmarshal(e.raw, b) != nil {
				continue
			}
			b.Revision = e.rev
			e.b, e.raw = b, nil
			m.aors[aor][id] = e
		}
		if e.b.Live(now) {
			out = append(out, *e.b)
		}
	}
	return out
}

// count is the number of bindings held, live or not yet swept.
func (m *mirror) count() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, ids := range m.aors {
		n += len(ids)
	}
	return n - m.tombs
}

// sweep forgets bindings past their expiry plus the KV grace (the server
// drops those keys too) and tombstones the watch has overtaken: no update
// older than them can arrive any more.
func (m *mirror) sweep(now time.Time) {
	limit := now.Add(-ttlGrace).Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	for aor, ids := range m.aors {
		for id, e := range ids {
			switch {
			case e.del && e.rev <= m.seen:
				delete(ids, id)
				m.tombs--
			case e.b != nil && e.b.ExpiresAt < limit:
				delete(ids, id)
			}
		}
		if len(ids) == 0 {
			delete(m.aors, aor)
		}
	}
}

// StartMirror starts the in-memory mirror of the bucket and returns once it
// holds the bucket's current contents (bounded by ctx). From then on Lookup
// reads the mirror. Call it before the Store is shared between goroutines;
// the watch runs until StopMirror.
func (s *Store) StartMirror(ctx context.Context) error {
	if s.mir != nil {
		return errors.New("location: mirror already started")
	}
	wctx, cancel := context.WithCancel(context.Background())
	w, err := s.kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("location: watching bindings: %w", err)
	}
	m := &mirror{aors: map[string]map[string]mirrorEntry{}, ready: make(chan struct{}), cancel: cancel,
		done: make(chan struct{})}
	go s.runMirror(wctx, m, w)
	select {
	case <-m.ready:
	case <-ctx.Done():
		cancel()
		<-m.done
		return fmt.Errorf("location: loading bindings: %w", ctx.Err())
	}
	s.mir = m
	return nil
}

// StopMirror stops the watch, at shutdown: Lookup then answers from the
// last mirrored state.
func (s *Store) StopMirror() {
	m := s.mir
	if m == nil {
		return
	}
	m.cancel()
	<-m.done
}

// Sweep frees mirrored bindings that expired; the registrar calls it
// periodically on its clock.
func (s *Store) Sweep() {
	if s.mir != nil {
		s.mir.sweep(s.clk.Now())
	}
}

// Mirrored is the number of bindings in the mirror (0 without one).
func (s *Store) Mirrored() int {
	if s.mir == nil {
		return 0
	}
	return s.mir.count()
}

func (s *Store) runMirror(ctx context.Context, m *mirror, w jetstream.KeyWatcher) {
	defer close(m.done)
	defer func() { _ = w.Stop() }()
	readyOnce := sync.Once{}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				readyOnce.Do(func() { close(m.ready) })
				continue
			}
			del := e.Operation() != jetstream.KeyValuePut
			var raw []byte
			if !del {
				raw = e.Value()
			}
			m.mu.Lock()
			m.apply(e.Key(), e.Revision(), nil, raw, del)
			if e.Revision() > m.seen {
				m.seen = e.Revision()
			}
			m.mu.Unlock()
		}
	}
}

// noteWrite applies the Store's own successful write to the mirror.
func (s *Store) noteWrite(key string, rev uint64, b Binding, del bool) {
	if s.mir == nil || rev == 0 {
		return
	}
	s.mir.mu.Lock()
	s.mir.apply(key, rev, &b, nil, del)
	s.mir.mu.Unlock()
}

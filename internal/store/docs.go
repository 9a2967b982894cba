// Package store keeps tenant documents and their indexes in JetStream KV.
//
// One KV key per document (<account>.<type>.<id>); the KV revision is the
// document revision and every write is a compare-and-set inside the server.
// Uniqueness (realms, SIP usernames, callflow numbers, user logins) is kept in
// a separate index bucket whose keys are claimed with create-if-absent, so two
// concurrent writers can never both win. A writer that dies between claiming
// an index key and writing its document leaves a stale claim; the next claimer
// detects that the named document no longer holds the value and takes the key
// over with a compare-and-set, so crashes never block a value for good.
//
// Create, Update and Delete return only once the document and its index
// claims are on stable storage (Sync: one group-commit flush shared by all
// concurrent writers), and publish their document event after that.
//
// Any role may import store; it imports only bus, clock and validation.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/validation"
)

// Errors returned by Store. Callers match them with errors.Is.
var (
	ErrNotFound = errors.New("document not found")
	// ErrConflict means the caller's expected revision is stale.
	ErrConflict = errors.New("document revision conflict")
	// ErrExists means a document with that ID already exists.
	ErrExists = errors.New("document already exists")
)

// maxCASRetries bounds optimistic retries of writes that carry no expected
// revision (Kazoo semantics: apply on top of the latest).
const maxCASRetries = 64

// Doc is one stored document. Body holds every field, private ones included.
type Doc struct {
	Account string
	Type    string
	ID      string
	Rev     uint64
	Body    map[string]any
}

// Unique is one index entry a document holds. Field names the document field
// the entry comes from, for validation errors; Unique entries with an empty
// Field never conflict (their key already contains the document's own ID).
type Unique struct {
	Key   string
	Field string
	Value string
}

// IndexFunc computes the index entries a document body holds.
type IndexFunc func(account, id string, body map[string]any) []Unique

// DocEvent is published on bus.DocEvent after every committed change.
type DocEvent struct {
	Action  string `json:"action"` // created, updated, deleted
	Account string `json:"account_id"`
	Type    string `json:"type"`
	ID      string `json:"id"`
	Rev     uint64 `json:"rev"`
}

// Store is the document store. It is safe for concurrent use.
type Store struct {
	b       *Buckets
	nc      *nats.Conn
	log     *slog.Logger
	clock   clock.Clock
	indexes map[string]IndexFunc
}

// New returns a store over provisioned buckets.
func New(b *Buckets, nc *nats.Conn, log *slog.Logger, clk clock.Clock) *Store {
	s := &Store{b: b, nc: nc, log: log, clock: clk, indexes: map[string]IndexFunc{}}
	for typ, f := range defaultIndexes {
		s.indexes[typ] = f
	}
	return s
}

// Buckets exposes the underlying handles to packages that own other state.
func (s *Store) Buckets() *Buckets { return s.b }

// NewID returns a fresh 32-hex document ID.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// IsID reports whether s has the shape of a document ID.
func IsID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Get reads one document.
func (s *Store) Get(ctx context.Context, account, typ, id string) (*Doc, error) {
	if !IsID(account) || !validToken(id) {
		return nil, ErrNotFound
	}
	e, err := s.b.Docs.Get(ctx, DocKey(account, typ, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", typ, id, err)
	}
	return decodeEntry(account, typ, id, e)
}

func decodeEntry(account, typ, id string, e jetstream.KeyValueEntry) (*Doc, error) {
	body := map[string]any{}
	if err := unmarshal(e.Value(), &body); err != nil {
		return nil, fmt.Errorf("decoding %s %s: %w", typ, id, err)
	}
	return &Doc{Account: account, Type: typ, ID: id, Rev: e.Revision(), Body: body}, nil
}

// unmarshal decodes JSON keeping numbers exact.
func unmarshal(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	return d.Decode(v)
}

// Create stores a new document. It stamps pvt_type, pvt_account_id,
// pvt_created and pvt_modified, claims the document's index entries and
// fails with validation errors (rule "unique") when another document holds
// one of them, or ErrExists when the ID is taken.
func (s *Store) Create(ctx context.Context, d *Doc) (*Doc, error) {
	if d.ID == "" {
		d.ID = NewID()
	}
	if !IsID(d.Account) || !validToken(d.ID) {
		return nil, fmt.Errorf("creating %s: bad account or id", d.Type)
	}
	now := s.now()
	d.Body["pvt_type"] = d.Type
	d.Body["pvt_account_id"] = d.Account
	d.Body["pvt_created"] = now
	d.Body["pvt_modified"] = now
	d.Body["pvt_vsn"] = "1"
	d.Body["id"] = d.ID
	uniq := s.uniques(d.Account, d.Type, d.ID, d.Body)
	claimed, verr, err := s.claim(ctx, d, uniq)
	if err != nil || verr != nil {
		s.release(ctx, d, claimed)
		if verr != nil {
			return nil, verr
		}
		return nil, err
	}
	val, err := json.Marshal(d.Body)
	if err != nil {
		s.release(ctx, d, claimed)
		return nil, fmt.Errorf("encoding %s: %w", d.Type, err)
	}
	rev, err := s.b.Docs.Create(ctx, DocKey(d.Account, d.Type, d.ID), val)
	if err != nil {
		s.release(ctx, d, claimed)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("creating %s %s: %w", d.Type, d.ID, err)
	}
	d.Rev = rev
	if err := s.Sync(ctx); err != nil {
		return nil, fmt.Errorf("creating %s %s: %w", d.Type, d.ID, err)
	}
	s.publish("created", d)
	return d, nil
}

// Sync returns once every write this store acknowledged before the call is
// on stable storage (bus.RequestSync: one flush shared by all concurrent
// writers). Create, Update and Delete call it before they return, so an
// acknowledged document write and its index claims survive a crash of the
// process or the machine; callers that write other state (media objects)
// call it before they answer.
func (s *Store) Sync(ctx context.Context) error {
	if s.nc == nil {
		return nil
	}
	return bus.RequestSync(ctx, s.nc)
}

// Mutator turns the current body into the new one. It may return validation
// errors (returned unchanged to the caller) or any other error (aborting).
// It may be called more than once when a concurrent writer wins a race.
type Mutator func(cur map[string]any) (map[string]any, error)

// Update applies mutate to the current document and writes the result with
// a compare-and-set. expectRev > 0 fails with ErrConflict unless it is the
// current revision; expectRev == 0 retries on concurrent changes so that the
// write lands on top of the latest revision. Private fields of the current
// document are carried over; pvt_modified is stamped.
func (s *Store) Update(ctx context.Context, account, typ, id string, expectRev uint64, mutate Mutator) (*Doc, error) {
	return s.update(ctx, account, typ, id, expectRev, mutate, true)
}

// SetPrivate sets one private field of a document, on top of its latest
// revision. Only operators' code paths (API keys, limits overrides) use it.
func (s *Store) SetPrivate(ctx context.Context, account, typ, id, field string, value any) error {
	if !isPrivate(field) {
		return fmt.Errorf("SetPrivate: %q is not a private field", field)
	}
	_, err := s.update(ctx, account, typ, id, 0, func(cur map[string]any) (map[string]any, error) {
		cur[field] = value
		return cur, nil
	}, false)
	return err
}

func (s *Store) update(ctx context.Context, account, typ, id string, expectRev uint64, mutate Mutator, carryPrivate bool) (*Doc, error) {
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		cur, err := s.Get(ctx, account, typ, id)
		if err != nil {
			return nil, err
		}
		if expectRev != 0 && cur.Rev != expectRev {
			return nil, ErrConflict
		}
		oldBody := cloneMap(cur.Body)
		next, err := mutate(cloneMap(cur.Body))
		if err != nil {
			return nil, err
		}
		if carryPrivate {
			for k, v := range oldBody {
				if isPrivate(k) {
					next[k] = v
				}
			}
		}
		next["pvt_modified"] = s.now()
		next["id"] = id
		d := &Doc{Account: account, Type: typ, ID: id, Body: next}
		oldU := s.uniques(account, typ, id, oldBody)
		newU := s.uniques(account, typ, id, next)
		added := diffUniques(newU, oldU)
		claimed, verr, err := s.claim(ctx, d, added)
		if err != nil || verr != nil {
			s.release(ctx, d, claimed)
			if verr != nil {
				return nil, verr
			}
			return nil, err
		}
		val, err := json.Marshal(next)
		if err != nil {
			s.release(ctx, d, claimed)
			return nil, fmt.Errorf("encoding %s: %w", typ, err)
		}
		rev, err := s.b.Docs.Update(ctx, DocKey(account, typ, id), val, cur.Rev)
		if err != nil {
			s.release(ctx, d, claimed)
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongSeq(err) {
				if expectRev != 0 {
					return nil, ErrConflict
				}
				continue
			}
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				return nil, ErrNotFound
			}
			return nil, fmt.Errorf("updating %s %s: %w", typ, id, err)
		}
		d.Rev = rev
		s.release(ctx, &Doc{Account: account, Type: typ, ID: id}, diffUniques(oldU, newU))
		if err := s.Sync(ctx); err != nil {
			return nil, fmt.Errorf("updating %s %s: %w", typ, id, err)
		}
		s.publish("updated", d)
		return d, nil
	}
	return nil, fmt.Errorf("updating %s %s: too many concurrent writers: %w", typ, id, ErrConflict)
}

// Delete removes a document (expectRev 0: whatever its revision) and
// releases its index entries.
func (s *Store) Delete(ctx context.Context, account, typ, id string, expectRev uint64) (*Doc, error) {
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		cur, err := s.Get(ctx, account, typ, id)
		if err != nil {
			return nil, err
		}
		if expectRev != 0 && cur.Rev != expectRev {
			return nil, ErrConflict
		}
		if typ == TypeAccount {
			// Before the account goes, so that no reader ever finds
			// neither the account nor its tombstone.
			if err := s.writeTombstone(ctx, cur); err != nil {
				return nil, err
			}
		}
		err = s.b.Docs.Delete(ctx, DocKey(account, typ, id), jetstream.LastRevision(cur.Rev))
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongSeq(err) {
				if expectRev != 0 {
					return nil, ErrConflict
				}
				continue
			}
			return nil, fmt.Errorf("deleting %s %s: %w", typ, id, err)
		}
		s.release(ctx, cur, s.uniques(account, typ, id, cur.Body))
		if err := s.Sync(ctx); err != nil {
			return nil, fmt.Errorf("deleting %s %s: %w", typ, id, err)
		}
		s.publish("deleted", cur)
		return cur, nil
	}
	return nil, fmt.Errorf("deleting %s %s: %w", typ, id, ErrConflict)
}

// List returns every document of a type in an account, in key order.
func (s *Store) List(ctx context.Context, account, typ string) ([]*Doc, error) {
	if !IsID(account) {
		return nil, nil
	}
	return s.watchAll(ctx, DocTypeFilter(account, typ), func(e jetstream.KeyValueEntry) (*Doc, error) {
		parts := strings.SplitN(e.Key(), ".", 3)
		return decodeEntry(account, typ, parts[2], e)
	})
}

// watchAll reads the current value of every key matching filter in one
// pass over the bucket's stream, skipping deleted keys.
func (s *Store) watchAll(ctx context.Context, filter string, decode func(jetstream.KeyValueEntry) (*Doc, error)) ([]*Doc, error) {
	w, err := s.b.Docs.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", filter, err)
	}
	defer w.Stop()
	var out []*Doc
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("listing %s: watcher closed", filter)
			}
			if e == nil {
				sortDocs(out)
				return out, nil
			}
			d, err := decode(e)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
}

func (s *Store) now() int64 { return GregorianSeconds(s.clock.Now()) }

// GregorianSeconds converts t to Kazoo's timestamps: Unix seconds + 62167219200.
func GregorianSeconds(t time.Time) int64 { return t.Unix() + gregorianOffset }

// FromGregorian converts Kazoo's Gregorian seconds to a time.
func FromGregorian(g int64) time.Time { return time.Unix(g-gregorianOffset, 0).UTC() }

const gregorianOffset = 62167219200

func (s *Store) publish(action string, d *Doc) {
	if s.nc == nil {
		return
	}
	ev, _ := json.Marshal(DocEvent{Action: action, Account: d.Account, Type: d.Type, ID: d.ID, Rev: d.Rev})
	if err := s.nc.Publish(bus.DocEvent(d.Account, d.Type, d.ID), ev); err != nil {
		s.log.Warn("publishing document event", "err", err, "account_id", d.Account, "type", d.Type, "id", d.ID)
	}
}

// WatchDocEvents calls fn, on the connection's delivery goroutine, for every
// document event matching subject (a bus.DocEvents* filter) until stop.
func (s *Store) WatchDocEvents(subject string, fn func(DocEvent)) (stop func(), err error) {
	if s.nc == nil {
		return func() {}, nil
	}
	sub, err := s.nc.Subscribe(subject, func(m *nats.Msg) {
		var ev DocEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			s.log.Warn("bad document event", "subject", m.Subject, "err", err)
			return
		}
		fn(ev)
	})
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", subject, err)
	}
	if err := s.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("watching %s: %w", subject, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func (s *Store) uniques(account, typ, id string, body map[string]any) []Unique {
	f := s.indexes[typ]
	if f == nil {
		return nil
	}
	return f(account, id, body)
}

// indexOwner is the value of an index key.
type indexOwner struct {
	Account string `json:"account"`
	Type    string `json:"type"`
	ID      string `json:"id"`
}

// indexClaim is an index value as stored: the owner and when it claimed
// (unix nanoseconds on the store's clock; 0 in entries written before the
// field existed, which therefore count as old).
type indexClaim struct {
	indexOwner
	At int64 `json:"at,omitempty"`
}

// ClaimGrace is how long a fresh index claim is honoured even though its
// owner's document does not (yet) carry the value: a create claims its
// indexes before it writes the document, so without this window a
// concurrent creator would see the claim as stale and take it over, and
// both would win. A claim older than this whose owner does not hold it was
// left by a writer that died, and is taken over.
const ClaimGrace = 10 * time.Second

// claim takes every index entry for d. It returns what it claimed (for
// rollback), validation errors for entries another document holds, or an error.
func (s *Store) claim(ctx context.Context, d *Doc, uniq []Unique) ([]Unique, validation.Errors, error) {
	me := indexOwner{Account: d.Account, Type: d.Type, ID: d.ID}
	val, _ := json.Marshal(indexClaim{indexOwner: me, At: s.clock.Now().UnixNano()})
	var claimed []Unique
	verr := validation.Errors{}
	for _, u := range uniq {
		ok, err := s.claimOne(ctx, u, me, val)
		if err != nil {
			return claimed, nil, err
		}
		if !ok {
			verr.Add(u.Field, "unique", fmt.Sprintf("Value %q is already in use", u.Value), "cause", u.Value)
			continue
		}
		claimed = append(claimed, u)
	}
	if !verr.Empty() {
		return claimed, verr, nil
	}
	return claimed, nil, nil
}

func (s *Store) claimOne(ctx context.Context, u Unique, me indexOwner, val []byte) (bool, error) {
	for attempt := 0; attempt < 8; attempt++ {
		_, err := s.b.Index.Create(ctx, u.Key, val)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return false, fmt.Errorf("claiming index %s: %w", u.Key, err)
		}
		e, err := s.b.Index.Get(ctx, u.Key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("reading index %s: %w", u.Key, err)
		}
		var c indexClaim
		_ = json.Unmarshal(e.Value(), &c)
		owner := c.indexOwner
		if owner == me {
			return true, nil
		}
		held, err := s.holds(ctx, owner, u.Key)
		if err != nil {
			return false, err
		}
		if held {
			return false, nil
		}
		if age := s.clock.Now().Sub(time.Unix(0, c.At)); c.At != 0 && age < ClaimGrace {
			// Its writer is most likely between claim and document write.
			return false, nil
		}
		// A stale claim (its writer died, or the owner changed its value):
		// take it over, unless someone else does first.
		if _, err := s.b.Index.Update(ctx, u.Key, val, e.Revision()); err == nil {
			return true, nil
		}
	}
	return false, fmt.Errorf("claiming index %s: %w", u.Key, ErrConflict)
}

// holds reports whether owner's document still carries the index key.
func (s *Store) holds(ctx context.Context, owner indexOwner, key string) (bool, error) {
	if owner.Type == "" {
		return true, nil
	}
	d, err := s.Get(ctx, owner.Account, owner.Type, owner.ID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, u := range s.uniques(d.Account, d.Type, d.ID, d.Body) {
		if u.Key == key {
			return true, nil
		}
	}
	return false, nil
}

// release deletes index entries that still name d. Failures are logged:
// a leftover entry is stale and will be taken over by the next claimer.
func (s *Store) release(ctx context.Context, d *Doc, uniq []Unique) {
	me := indexOwner{Account: d.Account, Type: d.Type, ID: d.ID}
	for _, u := range uniq {
		e, err := s.b.Index.Get(ctx, u.Key)
		if err != nil {
			continue
		}
		var owner indexOwner
		_ = json.Unmarshal(e.Value(), &owner)
		if owner != me {
			continue
		}
		if err := s.b.Index.Delete(ctx, u.Key, jetstream.LastRevision(e.Revision())); err != nil {
			s.log.Debug("releasing index entry", "key", u.Key, "err", err)
		}
	}
}

// IndexOwner reads which document holds an index key.
func (s *Store) IndexOwner(ctx context.Context, key string) (account, typ, id string, err error) {
	e, err := s.b.Index.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", "", "", ErrNotFound
	}
	if err != nil {
		return "", "", "", fmt.Errorf("reading index %s: %w", key, err)
	}
	var o indexOwner
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		return "", "", "", fmt.Errorf("decoding index %s: %w", key, err)
	}
	return o.Account, o.Type, o.ID, nil
}

// IndexKeys lists the index keys matching a filter.
func (s *Store) IndexKeys(ctx context.Context, filter string) ([]string, error) {
	lister, err := s.b.Index.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("listing index %s: %w", filter, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

func diffUniques(a, b []Unique) []Unique {
	in := map[string]bool{}
	for _, u := range b {
		in[u.Key] = true
	}
	var out []Unique
	for _, u := range a {
		if !in[u.Key] {
			out = append(out, u)
		}
	}
	return out
}

func isPrivate(k string) bool { return strings.HasPrefix(k, "pvt_") || strings.HasPrefix(k, "_") }

// isWrongSeq recognises the server's "wrong last sequence" answer, which
// some client paths do not map to ErrKeyRevisionMismatch.
func isWrongSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// validToken reports whether s can stand as one KV key token.
func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		ok := c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func cloneMap(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	out := map[string]any{}
	_ = unmarshal(b, &out)
	return out
}

// CloneJSON deep-copies a decoded JSON value (maps, slices, scalars); nil
// maps and slices stay nil.
func CloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return t
		}
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = CloneJSON(x)
		}
		return m
	case []any:
		if t == nil {
			return t
		}
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = CloneJSON(x)
		}
		return s
	default:
		return v
	}
}

// Package location is the SIP location service: the bindings of every
// address of record (account + SIP username) kept in the JetStream KV bucket
// store.BucketRegistrations, one key per contact
// (store.RegistrationKey: <account>.<username-token>.<binding-id>).
//
// Each key carries a per-message TTL (Nats-TTL) so the server drops it when
// the phone stops refreshing; the binding also carries its own expiry
// (ExpiresAt), and readers ignore bindings whose expiry has passed on the
// injected clock, so expiry is exact and testable while the KV TTL is only a
// backstop that frees memory. Refreshes are compare-and-set on the key's
// revision (Nats-Expected-Last-Subject-Sequence) so two edges never
// resurrect a binding the other just removed.
//
// The edge role writes bindings; the api role reads, counts and flushes
// them. Both may import location; it imports bus, store and clock only.
package location

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// Binding is one registered contact. The JSON field names follow Kazoo's
// registration records (crossbar /registrations) so the API can return them
// as they are.
type Binding struct {
	AccountID       string   `json:"account_id"`
	AccountRealm    string   `json:"account_realm"`
	Realm           string   `json:"realm"`
	Username        string   `json:"username"`
	AuthorizingID   string   `json:"authorizing_id"`
	AuthorizingType string   `json:"authorizing_type"`
	OwnerID         string   `json:"owner_id,omitempty"`
	CallID          string   `json:"call_id"`
	CSeq            uint32   `json:"cseq"`
	Contact         string   `json:"contact"`
	OriginalContact string   `json:"original_contact"`
	ContactIP       string   `json:"contact_ip"`
	ContactPort     int      `json:"contact_port"`
	Expires         int      `json:"expires"`
	ExpiresAt       int64    `json:"expires_at"`
	UserAgent       string   `json:"user_agent,omitempty"`
	EventTimestamp  int64    `json:"event_timestamp"`
	FromUser        string   `json:"from_user"`
	FromHost        string   `json:"from_host"`
	ToUser          string   `json:"to_user"`
	ToHost          string   `json:"to_host"`
	SourceTransport string   `json:"source_transport"`
	SourceIP        string   `json:"source_ip"`
	SourcePort      int      `json:"source_port"`
	Path            []string `json:"path,omitempty"`
	ProxyIP         string   `json:"proxy_ip"`
	ProxyPort       int      `json:"proxy_port"`
	// EdgeID names the edge node holding the phone's flow (its TCP
	// connection or NAT pinhole); requests to the phone go out through it.
	EdgeID string `json:"edge_id"`
	// BindingID is the key's last token, derived from the contact URI.
	BindingID string `json:"binding_id"`
	// Revision is the KV revision the binding was read at (not stored).
	Revision uint64 `json:"-"`
}

// ExpiresIn is how many seconds are left at now (0 when expired).
func (b Binding) ExpiresIn(now time.Time) int {
	left := b.ExpiresAt - now.Unix()
	if left < 0 {
		return 0
	}
	return int(left)
}

// Live reports whether the binding has not expired at now.
func (b Binding) Live(now time.Time) bool { return b.ExpiresAt > now.Unix() }

// BindingID derives a binding's key token from its contact URI, so a
// refresh of the same contact hits the same key.
func BindingID(contactURI string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(contactURI))))
	return hex.EncodeToString(sum[:10])
}

// ttlGrace is added to a binding's expiry for the KV TTL: readers already
// ignore it at ExpiresAt, and the grace keeps the server from dropping a key
// a slow refresh is about to CAS.
const ttlGrace = 30 * time.Second

// Store reads and writes bindings.
type Store struct {
	kv  jetstream.KeyValue
	js  jetstream.JetStream
	clk clock.Clock
	// subjectPrefix is "$KV.<bucket>." for raw publishes.
	subjectPrefix string
	// mir, when started, serves Lookup from memory (mirror.go).
	mir *mirror
}

// New returns a Store over the registrations bucket.
func New(js jetstream.JetStream, kv jetstream.KeyValue, clk clock.Clock) *Store {
	return &Store{kv: kv, js: js, clk: clk, subjectPrefix: "$KV." + kv.Bucket() + "."}
}

// ErrConflict means the binding changed under us; the caller may retry.
var ErrConflict = errors.New("location: binding changed concurrently")

// Save writes b for its remaining lifetime. When b.Revision is 0 the key
// must not exist (or be deleted); otherwise it must still be at b.Revision.
// It returns the new revision.
func (s *Store) Save(ctx context.Context, b Binding) (uint64, error) {
	if b.BindingID == "" {
		b.BindingID = BindingID(b.Contact)
	}
	val, err := Encode(b)
	if err != nil {
		return 0, err
	}
	return s.SaveEncoded(ctx, b, val)
}

// Encode is the stored form of b (JSON; BindingID must be set).
func Encode(b Binding) ([]byte, error) {
	val, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding binding: %w", err)
	}
	return val, nil
}

// SaveEncoded is Save with b already encoded by Encode (the registrar
// reuses the encoding in its registration event).
func (s *Store) SaveEncoded(ctx context.Context, b Binding, val []byte) (uint64, error) {
	if b.BindingID == "" {
		return 0, errors.New("location: saving a binding without its BindingID")
	}
	now := s.clk.Now()
	if !b.Live(now) {
		return 0, fmt.Errorf("location: saving binding %s that expired at %d", b.BindingID, b.ExpiresAt)
	}
	ttl := time.Duration(b.ExpiresAt-now.Unix())*time.Second + ttlGrace
	key := store.RegistrationKey(b.AccountID, b.Username, b.BindingID)
	if b.Revision == 0 {
		rev, err := s.kv.Create(ctx, key, val, jetstream.KeyTTL(ttl))
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrConflict
		}
		if err != nil {
			return 0, fmt.Errorf("creating binding %s: %w", key, err)
		}
		s.noteWrite(key, rev, b, false)
		return rev, nil
	}
	// KeyValue.Update drops a key's TTL, so a refresh publishes itself with
	// both the TTL and the expected revision.
	pa, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: s.subjectPrefix + key, Data: val, Header: nats.Header{}},
		jetstream.WithExpectLastSequencePerSubject(b.Revision), jetstream.WithMsgTTL(ttl))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("refreshing binding %s: %w", key, err)
	}
	s.noteWrite(key, pa.Sequence, b, false)
	return pa.Sequence, nil
}

// Put writes b whether or not it exists: create, or refresh at the current
// revision, retrying a few times if another writer interleaves.
func (s *Store) Put(ctx context.Context, b Binding) (uint64, error) {
	key := store.RegistrationKey(b.AccountID, b.Username, BindingIDOf(b))
	for range 4 {
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			b.Revision = 0
		case err != nil:
			return 0, fmt.Errorf("reading binding %s: %w", key, err)
		default:
			b.Revision = e.Revision()
		}
		rev, err := s.Save(ctx, b)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return rev, err
	}
	return 0, ErrConflict
}

// BindingIDOf returns b's binding ID, deriving it from the contact if unset.
func BindingIDOf(b Binding) string {
	if b.BindingID != "" {
		return b.BindingID
	}
	return BindingID(b.Contact)
}

// purgeMarkerTTL is how long the marker a removal leaves stays in the
// bucket; without one, markers of removed bindings would pile up forever.
const purgeMarkerTTL = time.Minute

// Remove deletes one binding.
func (s *Store) Remove(ctx context.Context, account, username, bindingID string) error {
	key := store.RegistrationKey(account, username, bindingID)
	// A KV purge published by hand, because the mirror needs the marker's
	// revision, which KeyValue.Purge does not return.
	msg := &nats.Msg{Subject: s.subjectPrefix + key, Header: nats.Header{}}
	msg.Header.Set("KV-Operation", "PURGE")
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	pa, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(purgeMarkerTTL))
	if err != nil {
		return fmt.Errorf("removing binding %s: %w", key, err)
	}
	s.noteWrite(key, pa.Sequence, Binding{}, true)
	return nil
}

// Lookup returns the live bindings of one address of record, from the
// mirror when it runs (StartMirror), else from KV. The registrar uses it:
// its writes are compare-and-set, so a binding the mirror has not seen yet
// only costs a retry.
func (s *Store) Lookup(ctx context.Context, account, username string) ([]Binding, error) {
	filter := store.RegistrationAORFilter(account, username)
	if s.mirrored() {
		return s.mir.lookup(strings.TrimSuffix(filter, ".*"), s.clk.Now()), nil
	}
	return s.scan(ctx, filter)
}

// mirrored reports whether lookups are served by an up-to-date mirror.
func (s *Store) mirrored() bool { return s.mir != nil && !s.mir.stale.Load() }

// Reachable is Lookup for placing a call: the mirror trails KV by a watch
// delivery, so a miss is checked against KV, and a phone that just
// registered on another edge is found by a call placed right after. (The
// registrar must not pay that read on every first registration.)
func (s *Store) Reachable(ctx context.Context, account, username string) ([]Binding, error) {
	if !s.mirrored() {
		return s.Lookup(ctx, account, username)
	}
	if bs, _ := s.Lookup(ctx, account, username); len(bs) > 0 {
		return bs, nil
	}
	return s.scan(ctx, store.RegistrationAORFilter(account, username))
}

// List returns every live binding of an account.
func (s *Store) List(ctx context.Context, account string) ([]Binding, error) {
	return s.scan(ctx, store.RegistrationAccountFilter(account))
}

// Count returns the number of live bindings of an account.
func (s *Store) Count(ctx context.Context, account string) (int, error) {
	bs, err := s.List(ctx, account)
	return len(bs), err
}

// Flush removes every binding of an account; it returns how many.
func (s *Store) Flush(ctx context.Context, account string) (int, error) {
	return s.flush(ctx, store.RegistrationAccountFilter(account))
}

// FlushUser removes every binding of one SIP username; it returns how many.
func (s *Store) FlushUser(ctx context.Context, account, username string) (int, error) {
	return s.flush(ctx, store.RegistrationAORFilter(account, username))
}

// DeviceStatus reports, for each of the account's devices with a live
// binding, registered=true (Kazoo's GET /devices/status). Devices absent
// from the map are not registered.
func (s *Store) DeviceStatus(ctx context.Context, account string) (map[string]bool, error) {
	bs, err := s.List(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(bs))
	for _, b := range bs {
		out[b.AuthorizingID] = true
	}
	return out, nil
}

func (s *Store) flush(ctx context.Context, filter string) (int, error) {
	bs, err := s.scanAll(ctx, filter)
	if err != nil {
		return 0, err
	}
	for _, b := range bs {
		if err := s.Remove(ctx, b.AccountID, b.Username, b.BindingID); err != nil {
			return 0, err
		}
	}
	return len(bs), nil
}

func (s *Store) scan(ctx context.Context, filter string) ([]Binding, error) {
	all, err := s.scanAll(ctx, filter)
	if err != nil {
		return nil, err
	}
	now := s.clk.Now()
	live := all[:0]
	for _, b := range all {
		if b.Live(now) {
			live = append(live, b)
		}
	}
	return live, nil
}

// scanAll reads every stored binding matching filter, expired or not. A
// watcher delivers the current values and then a nil entry; bounded by the
// context and a 10 s ceiling.
func (s *Store) scanAll(ctx context.Context, filter string) ([]Binding, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w, err := s.kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watching bindings %s: %w", filter, err)
	}
	defer func() { _ = w.Stop() }()
	var out []Binding
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("listing bindings %s: watcher closed", filter)
			}
			if e == nil {
				return out, nil
			}
			var b Binding
			if err := json.Unmarshal(e.Value(), &b); err != nil {
				// A foreign or corrupt value is skipped, not fatal: one bad
				// key must not hide every other binding of the account.
				continue
			}
			b.Revision = e.Revision()
			out = append(out, b)
		case <-ctx.Done():
			return nil, fmt.Errorf("listing bindings %s: %w", filter, ctx.Err())
		}
	}
}

// Package dialplan finds the callflow that a dialed number runs in an
// account, the way Kazoo's cf_flow does: exact `numbers` first, then
// `patterns` (longest match), then the account's `no_match` callflow for
// calls from the account's own devices.
//
// Lookups are served from a per-account table of parsed callflows and
// compiled patterns, built from the store on first use and dropped when a
// callflow of the account changes (document events on NATS), when the table
// is older than Options.MaxAge (a bound on staleness should events be lost
// in a reconnect), or when a lookup misses and the store's callflow revision
// of the account has moved on (so a callflow saved just before a call is
// found by that call even if its event is still in flight).
//
// Who may import it: the media role (B2BUA). It imports callflow, store,
// bus and clock.
package dialplan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/callflow"
	// Parsing a flow needs every module registered.
	_ "github.com/strowger/strowger/internal/callflow/modules/all"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// NoMatchNumber is the literal in `numbers` that marks an account's
// catch-all callflow (Kazoo's convention).
const NoMatchNumber = "no_match"

// MaxDialedLength bounds the dialed string: longer input never matches (a
// Request-URI user is short; this keeps regex work per call bounded).
const MaxDialedLength = 256

// ErrNoRoute matches (errors.Is) every NotFoundError.
var ErrNoRoute = errors.New("dialplan: no callflow for the dialed number")

// NotFoundError is returned by Find when nothing in the account matches the
// dialed number; the B2BUA answers the caller with SIPStatus (404).
type NotFoundError struct {
	Account, Dialed string
	// Reason says why, for logs ("no match", "empty number", ...).
	Reason string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("dialplan: no callflow for %q in account %s: %s", e.Dialed, e.Account, e.Reason)
}

// Is makes errors.Is(err, ErrNoRoute) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNoRoute }

// SIPStatus is the final response for the caller: 404 Not Found.
func (e *NotFoundError) SIPStatus() int { return 404 }

// Match is the callflow a dialed number runs.
type Match struct {
	CallflowID string
	// Node is the parsed flow. It is shared by every call that matches
	// the same callflow and must not be modified.
	Node *callflow.Node
	// Captures are the capture groups of the pattern that matched (an
	// unmatched optional group is ""); nil for an exact or no_match match.
	Captures []string
	// Kind says how it matched: "number", "pattern" or "no_match".
	Kind string
}

// Match kinds.
const (
	KindNumber  = "number"
	KindPattern = "pattern"
	KindNoMatch = "no_match"
)

// Options tune a Resolver; zero values take the defaults.
type Options struct {
	// MaxAge is how long an account's table is used before it is rebuilt
	// even without an event (default 5 minutes).
	MaxAge time.Duration
	// MaxAccounts bounds how many account tables are kept (default
	// 10,000); beyond it an arbitrary table is dropped.
	MaxAccounts int
	// Clock measures MaxAge (default clock.Real()).
	Clock clock.Clock
}

// Resolver finds callflows. It is safe for concurrent use; create it with
// New and stop it with Close.
type Resolver struct {
	st   *store.Store
	log  *slog.Logger
	clk  clock.Clock
	opts Options
	sub  *nats.Subscription

	mu       sync.Mutex // guards accounts; never held while loading
	accounts map[string]*account
}

// account holds one account's table. load serialises rebuilds so that
// concurrent calls to a cold account cause one store read.
type account struct {
	load sync.Mutex

	mu    sync.Mutex // guards table and gen
	table *table
	// gen counts invalidations; a table built while gen moved is used
	// once but not kept.
	gen uint64
}

// table is an immutable snapshot of an account's callflows.
type table struct {
	rev      uint64 // store.TypeRevision when the build started
	built    time.Time
	byID     map[string]*callflow.Node
	numbers  map[string]string // number → callflow id
	patterns []pattern         // in match-preference order, see sortPatterns
	noMatch  string            // callflow id, "" if none
}

type pattern struct {
	src string
	re  *regexp.Regexp
	id  string
}

// New returns a resolver over st that listens for callflow changes on nc.
func New(st *store.Store, nc *nats.Conn, log *slog.Logger, opts Options) (*Resolver, error) {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * time.Minute
	}
	if opts.MaxAccounts <= 0 {
		opts.MaxAccounts = 10000
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	r := &Resolver{st: st, log: log, clk: opts.Clock, opts: opts, accounts: map[string]*account{}}
	sub, err := nc.Subscribe(bus.DocEventsType(store.TypeCallflow), r.onEvent)
	if err != nil {
		return nil, fmt.Errorf("dialplan: subscribing to callflow changes: %w", err)
	}
	r.sub = sub
	return r, nil
}

// Close stops listening for changes; Find keeps working, uncached.
func (r *Resolver) Close() error {
	if r.sub == nil {
		return nil
	}
	err := r.sub.Unsubscribe()
	r.sub = nil
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		return nil
	}
	return err
}

func (r *Resolver) onEvent(m *nats.Msg) {
	var ev store.DocEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil || !store.IsID(ev.Account) {
		r.log.Warn("dialplan: ignoring a malformed document event", "subject", m.Subject, "err", err)
		return
	}
	r.Invalidate(ev.Account)
}

// Invalidate drops the table of an account; the next lookup rebuilds it.
func (r *Resolver) Invalidate(accountID string) {
	r.mu.Lock()
	a := r.accounts[accountID]
	r.mu.Unlock()
	if a == nil {
		return
	}
	a.mu.Lock()
	a.table = nil
	a.gen++
	a.mu.Unlock()
}

// Find returns the callflow the dialed number runs in the account:
//
//  1. the callflow whose `numbers` contains dialed exactly;
//  2. else the callflow with the pattern whose match covers most of dialed
//     (the longest matched substring, as Kazoo's cf_flow); on a tie the
//     longer regex (the more specific one) wins, then the smaller one in
//     byte order, so the choice never depends on storage order. Patterns
//     compile with callflow.CompilePattern (Go RE2); a stored pattern it
//     rejects (PCRE back-references, look-arounds) is logged and never
//     matches;
//  3. else, when fromOwnDevice (the call is authorized by one of the
//     account's devices, not a carrier) and dialed is all digits with an
//     optional leading "+" (Kazoo's rule), the callflow whose numbers
//     contain "no_match".
//
// Otherwise it returns a *NotFoundError (errors.Is ErrNoRoute). Other
// errors are store failures.
func (r *Resolver) Find(ctx context.Context, accountID, dialed string, fromOwnDevice bool) (Match, error) {
	if !store.IsID(accountID) {
		return Match{}, &NotFoundError{Account: accountID, Dialed: dialed, Reason: "malformed account id"}
	}
	if dialed == "" || len(dialed) > MaxDialedLength {
		return Match{}, &NotFoundError{Account: accountID, Dialed: truncate(dialed), Reason: "empty or over-long number"}
	}
	t, err := r.table(ctx, accountID, false)
	if err != nil {
		return Match{}, err
	}
	m, ok := t.match(dialed)
	if !ok {
		// The table may predate a callflow saved a moment ago whose event
		// has not arrived yet: check the store's revision before giving up
		// on numbers and patterns.
		if t, err = r.table(ctx, accountID, true); err != nil {
			return Match{}, err
		}
		m, ok = t.match(dialed)
	}
	if ok {
		return m, nil
	}
	if fromOwnDevice && t.noMatch != "" && isDialable(dialed) {
		return Match{CallflowID: t.noMatch, Node: t.byID[t.noMatch], Kind: KindNoMatch}, nil
	}
	return Match{}, &NotFoundError{Account: accountID, Dialed: dialed, Reason: "no number, pattern or no_match callflow matches"}
}

// Callflow returns the parsed flow of one callflow of the account (what the
// callflow module jumps to), or callflow.ErrNotFound.
func (r *Resolver) Callflow(ctx context.Context, accountID, id string) (*callflow.Node, error) {
	if !store.IsID(accountID) || !store.IsID(id) {
		return nil, callflow.ErrNotFound
	}
	t, err := r.table(ctx, accountID, false)
	if err != nil {
		return nil, err
	}
	if n := t.byID[id]; n != nil {
		return n, nil
	}
	if t, err = r.table(ctx, accountID, true); err != nil {
		return nil, err
	}
	if n := t.byID[id]; n != nil {
		return n, nil
	}
	return nil, callflow.ErrNotFound
}

// match looks dialed up in the numbers, then the patterns.
func (t *table) match(dialed string) (Match, bool) {
	if id, ok := t.numbers[dialed]; ok {
		return Match{CallflowID: id, Node: t.byID[id], Kind: KindNumber}, true
	}
	best, bestLen := -1, -1
	var bestIdx []int
	for i := range t.patterns {
		idx := t.patterns[i].re.FindStringSubmatchIndex(dialed)
		if idx == nil {
			continue
		}
		// Strictly longer only: earlier patterns win ties (sortPatterns).
		if n := idx[1] - idx[0]; n > bestLen {
			best, bestLen, bestIdx = i, n, idx
		}
	}
	if best < 0 {
		return Match{}, false
	}
	p := t.patterns[best]
	caps := make([]string, 0, len(bestIdx)/2-1)
	for g := 2; g+1 < len(bestIdx); g += 2 {
		if bestIdx[g] < 0 {
			caps = append(caps, "")
			continue
		}
		caps = append(caps, dialed[bestIdx[g]:bestIdx[g+1]])
	}
	return Match{CallflowID: p.id, Node: t.byID[p.id], Captures: caps, Kind: KindPattern}, true
}

// table returns the account's table, building it when there is none, when
// it is older than MaxAge, or, with verify, when the store's callflow
// revision differs from the one it was built at. The revision is read
// outside the build lock, so concurrent verifications of a current table
// (every call that ends in no_match does one) run in parallel.
func (r *Resolver) table(ctx context.Context, accountID string, verify bool) (*table, error) {
	a := r.account(accountID)
	t := r.fresh(a)
	if t != nil && !verify {
		return t, nil
	}
	rev, err := r.st.TypeRevision(ctx, accountID, store.TypeCallflow)
	if err != nil {
		return nil, fmt.Errorf("dialplan: %w", err)
	}
	if t != nil && t.rev == rev {
		return t, nil
	}
	a.load.Lock()
	defer a.load.Unlock()
	// Another call may have built a table at least as new while we waited.
	if t := r.fresh(a); t != nil && t.rev >= rev {
		return t, nil
	}
	a.mu.Lock()
	gen := a.gen
	a.mu.Unlock()
	t, err = r.build(ctx, accountID, rev)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.gen == gen {
		a.table = t
	}
	a.mu.Unlock()
	return t, nil
}

// fresh returns the account's table unless it is missing or too old.
func (r *Resolver) fresh(a *account) *table {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.table == nil || r.clk.Now().Sub(a.table.built) >= r.opts.MaxAge {
		return nil
	}
	return a.table
}

func (r *Resolver) account(id string) *account {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.accounts[id]
	if a == nil {
		if len(r.accounts) >= r.opts.MaxAccounts {
			for k := range r.accounts {
				delete(r.accounts, k)
				break
			}
		}
		a = &account{}
		r.accounts[id] = a
	}
	return a
}

// build reads every callflow of the account and indexes it. rev must be
// read before the documents, so a write racing with the read makes the
// table look stale (rebuilt on the next verify) rather than current.
func (r *Resolver) build(ctx context.Context, accountID string, rev uint64) (*table, error) {
	docs, err := r.st.List(ctx, accountID, store.TypeCallflow)
	if err != nil {
		return nil, fmt.Errorf("dialplan: %w", err)
	}
	log := r.log.With("account_id", accountID)
	t := &table{
		rev:     rev,
		built:   r.clk.Now(),
		byID:    make(map[string]*callflow.Node, len(docs)),
		numbers: map[string]string{},
	}
	patternOwner := map[string]string{}
	for _, d := range docs {
		root, errs := callflow.ParseFlow(d.Body["flow"])
		if !errs.Empty() {
			// The API validates on save; a document that fails now was
			// written by an older version or by hand. Skip it loudly.
			log.Warn("dialplan: skipping a callflow whose flow does not validate", "callflow_id", d.ID, "errors", errs)
			continue
		}
		t.byID[d.ID] = root
		for _, n := range stringList(d.Body["numbers"]) {
			if n == NoMatchNumber {
				t.noMatch = r.pick(ctx, log, store.IndexNumber(accountID, n), n, t.noMatch, d.ID)
				continue
			}
			t.numbers[n] = r.pick(ctx, log, store.IndexNumber(accountID, n), n, t.numbers[n], d.ID)
		}
		for _, p := range stringList(d.Body["patterns"]) {
			patternOwner[p] = r.pick(ctx, log, store.IndexPattern(accountID, p), p, patternOwner[p], d.ID)
		}
	}
	for src, id := range patternOwner {
		re, err := callflow.CompilePattern(src)
		if err != nil {
			log.Warn("dialplan: pattern is not a supported regular expression, it never matches",
				"callflow_id", id, "pattern", src, "err", err)
			continue
		}
		t.patterns = append(t.patterns, pattern{src: src, re: re, id: id})
	}
	sortPatterns(t.patterns)
	return t, nil
}

// pick decides which callflow owns a number or pattern that two documents
// list (a window the store's unique index closes, but a table built in it
// must still be deterministic): the owner of the index key, else the first.
func (r *Resolver) pick(ctx context.Context, log *slog.Logger, key, value, cur, next string) string {
	if cur == "" || cur == next {
		return next
	}
	_, _, owner, err := r.st.IndexOwner(ctx, key)
	if err == nil && (owner == cur || owner == next) {
		return owner
	}
	log.Warn("dialplan: two callflows list the same number or pattern", "value", value, "callflow_ids", []string{cur, next})
	return cur
}

// sortPatterns orders patterns so that, among those with equally long
// matches, the longer regex comes first, then the smaller in byte order.
func sortPatterns(ps []pattern) {
	sort.Slice(ps, func(i, j int) bool {
		if len(ps[i].src) != len(ps[j].src) {
			return len(ps[i].src) > len(ps[j].src)
		}
		return ps[i].src < ps[j].src
	})
}

// isDialable is Kazoo's condition for no_match: digits, optionally after a
// leading "+".
func isDialable(s string) bool {
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func stringList(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// scannerAgents are User-Agent substrings of well-known SIP scanners and
// toll-fraud tools; their requests get no answer at all, so the scanner
// cannot even tell a SIP server listens here.
var scannerAgents = []string{
	"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "pplsip", "sundayddr",
	"iwar", "sip-scan", "sipsak", "sipscan", "smap", "voipbuster", "sip-hunter", "siparmyknife",
	"scanner", "vaxipuseragent", "fdsfsdf", "sipptk", "cirpack", "ozzy", "pplsip",
}

// guard holds the per-source defences: allow-list, rate limits, failure
// counters and bans. Its state is in memory; bans are also shared through
// store.BucketBans so every edge silences a source one edge banned.
type guard struct {
	cfg   Config
	clk   clock.Clock
	allow []netip.Prefix
	ua    []string

	mu       sync.Mutex
	limiters map[netip.Addr]*limiterEntry
	srcFail  map[netip.Addr]*counter
	acctFail map[string]*counter
	bans     map[netip.Addr]time.Time
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

type counter struct {
	n     int
	start time.Time
}

func newGuard(cfg Config, clk clock.Clock) (*guard, error) {
	g := &guard{cfg: cfg, clk: clk, limiters: map[netip.Addr]*limiterEntry{},
		srcFail: map[netip.Addr]*counter{}, acctFail: map[string]*counter{}, bans: map[netip.Addr]time.Time{}}
	for _, s := range cfg.AllowList {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("edge: allow-list entry %q: %w", s, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		g.allow = append(g.allow, p.Masked())
	}
	for _, u := range cfg.ScannerAgents {
		g.ua = append(g.ua, strings.ToLower(u))
	}
	return g, nil
}

func (g *guard) allowed(a netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// scanner reports whether ua belongs to a known scanner.
func (g *guard) scanner(ua string) bool {
	if ua == "" {
		return false
	}
	l := strings.ToLower(ua)
	for _, s := range g.ua {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// banned reports whether a is silenced now.
func (g *guard) banned(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.bans[a]
	if !ok {
		return false
	}
	if !g.clk.Now().Before(until) {
		delete(g.bans, a)
		return false
	}
	return true
}

// admit applies the ban list and the per-source rate limit.
func (g *guard) admit(a netip.Addr) bool {
	if g.allowed(a) {
		return true
	}
	now := g.clk.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if until, ok := g.bans[a]; ok {
		if now.Before(until) {
			return false
		}
		delete(g.bans, a)
	}
	le := g.limiters[a]
	if le == nil {
		le = &limiterEntry{l: rate.NewLimiter(rate.Limit(g.cfg.SourceRate), g.cfg.SourceBurst)}
		g.limiters[a] = le
	}
	le.seen = now
	return le.l.AllowN(now, 1)
}

// fail counts a failed authentication from a against account ("" when the
// realm is unknown) and reports whether a is now banned.
func (g *guard) fail(a netip.Addr, account string) bool {
	if g.allowed(a) {
		return false
	}
	now := g.clk.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	bump := func(c *counter) int {
		if now.Sub(c.start) >= g.cfg.FailureWindow {
			c.n, c.start = 0, now
		}
		c.n++
		return c.n
	}
	sc := g.srcFail[a]
	if sc == nil {
		sc = &counter{start: now}
		g.srcFail[a] = sc
	}
	n := bump(sc)
	limit := g.cfg.SourceFailures
	if account != "" {
		ac := g.acctFail[account]
		if ac == nil {
			ac = &counter{start: now}
			g.acctFail[account] = ac
		}
		if bump(ac) >= g.cfg.AccountFailures && g.cfg.AttackSourceFailures < limit {
			limit = g.cfg.AttackSourceFailures
		}
	}
	if n >= limit {
		g.bans[a] = now.Add(g.cfg.BanTime)
		delete(g.srcFail, a)
		return true
	}
	return false
}

// learnBan records a ban another edge published.
func (g *guard) learnBan(a netip.Addr, until time.Time) {
	if g.allowed(a) {
		return
	}
	g.mu.Lock()
	if cur, ok := g.bans[a]; !ok || until.After(cur) {
		g.bans[a] = until
	}
	g.mu.Unlock()
}

func (g *guard) sweep() {
	now := g.clk.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for a, le := range g.limiters {
		if now.Sub(le.seen) > time.Minute {
			delete(g.limiters, a)
		}
	}
	for a, c := range g.srcFail {
		if now.Sub(c.start) >= g.cfg.FailureWindow {
			delete(g.srcFail, a)
		}
	}
	for k, c := range g.acctFail {
		if now.Sub(c.start) >= g.cfg.FailureWindow {
			delete(g.acctFail, k)
		}
	}
	for a, until := range g.bans {
		if !now.Before(until) {
			delete(g.bans, a)
		}
	}
}

// banRecord is the value of a store.BucketBans key.
type banRecord struct {
	IP     string `json:"ip"`
	Until  int64  `json:"until"` // unix seconds
	Reason string `json:"reason"`
	Edge   string `json:"edge"`
}

// publishBan shares a ban through KV; the KV TTL removes it server-side,
// the Until field lets every edge expire it on its own clock.
func (e *Edge) publishBan(ctx context.Context, a netip.Addr, reason string) {
	until := e.clk.Now().Add(e.cfg.BanTime)
	val, _ := json.Marshal(banRecord{IP: a.String(), Until: until.Unix(), Reason: reason, Edge: e.cfg.NodeID})
	key := store.BanKey(a.String())
	_, err := e.b.Bans.Create(ctx, key, val, jetstream.KeyTTL(e.cfg.BanTime))
	if errors.Is(err, jetstream.ErrKeyExists) {
		_, err = e.b.Bans.Put(ctx, key, val)
	}
	if err != nil {
		e.log.Warn("sharing ban failed", "ip", a.String(), "err", err)
	}
	e.log.Info("source banned", "ip", a.String(), "reason", reason, "until", until)
}

// watchBans follows store.BucketBans so bans from other edges apply here.
func (e *Edge) watchBans(ctx context.Context) error {
	w, err := e.b.Bans.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("edge: watching bans: %w", err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-e.ctx.Done():
				return
			case ent, ok := <-w.Updates():
				if !ok {
					return
				}
				if ent == nil {
					continue
				}
				var r banRecord
				if json.Unmarshal(ent.Value(), &r) != nil {
					continue
				}
				a, err := netip.ParseAddr(r.IP)
				if err != nil {
					continue
				}
				e.guard.learnBan(a, time.Unix(r.Until, 0))
			}
		}
	}()
	return nil
}

package dialplan_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/modules/response"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/dialplan"
	"github.com/strowger/strowger/internal/store"
)

type env struct {
	st  *store.Store
	res *dialplan.Resolver
	clk *clock.Fake
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := bustest.Start(t)
	b, err := store.Provision(context.Background(), srv.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(b, srv.Conn, log, clock.Real())
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	res, err := dialplan.New(st, srv.Conn, log, dialplan.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close() })
	return &env{st: st, res: res, clk: clk}
}

// flow is a one-node flow whose response code tells callflows apart.
func flow(code int) map[string]any {
	return map[string]any{"module": "response", "data": map[string]any{"code": code}}
}

func (e *env) create(t testing.TB, acct string, numbers, patterns []string, code int) string {
	t.Helper()
	body := map[string]any{"flow": flow(code)}
	if numbers != nil {
		body["numbers"] = toAny(numbers)
	}
	if patterns != nil {
		body["patterns"] = toAny(patterns)
	}
	d, err := e.st.Create(context.Background(), &store.Doc{Account: acct, Type: store.TypeCallflow, Body: body})
	if err != nil {
		t.Fatalf("creating callflow: %v", err)
	}
	return d.ID
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestFind(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct, other := store.NewID(), store.NewID()
	exact := e.create(t, acct, []string{"100", "+14155550100"}, nil, 401)
	short := e.create(t, acct, nil, []string{`^\*3([0-9]*)$`}, 402)
	long := e.create(t, acct, nil, []string{`^\*3([0-9])([0-9])([0-9])$`}, 403)
	e164 := e.create(t, acct, nil, []string{`^\+?1?([2-9][0-9]{9})$`}, 404)
	noMatch := e.create(t, acct, []string{"no_match"}, nil, 405)
	otherCF := e.create(t, other, []string{"200"}, []string{`^9(\d+)$`}, 406)

	cases := []struct {
		name     string
		acct     string
		dialed   string
		own      bool
		id       string
		kind     string
		captures []string
	}{
		{"exact", acct, "100", false, exact, dialplan.KindNumber, nil},
		{"exact e164", acct, "+14155550100", true, exact, dialplan.KindNumber, nil},
		{"exact beats pattern", acct, "100", true, exact, dialplan.KindNumber, nil},
		{"pattern with capture", acct, "*3", false, short, dialplan.KindPattern, []string{""}},
		{"both patterns match the whole number: the longer regex wins", acct, "*3123", false, long, dialplan.KindPattern, []string{"1", "2", "3"}},
		{"only the short pattern matches", acct, "*31234", false, short, dialplan.KindPattern, []string{"1234"}},
		{"e164 pattern", acct, "+14155551234", false, e164, dialplan.KindPattern, []string{"4155551234"}},
		{"no_match for own devices", acct, "5551234", true, noMatch, dialplan.KindNoMatch, nil},
		{"no_match with plus", acct, "+445551234", true, noMatch, dialplan.KindNoMatch, nil},
		{"other account's numbers are not ours", other, "200", false, otherCF, dialplan.KindNumber, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := e.res.Find(ctx, tc.acct, tc.dialed, tc.own)
			if err != nil {
				t.Fatal(err)
			}
			if m.CallflowID != tc.id || m.Kind != tc.kind || m.Node == nil {
				t.Fatalf("got %s (%s), want %s (%s)", m.CallflowID, m.Kind, tc.id, tc.kind)
			}
			if !slices.Equal(m.Captures, tc.captures) {
				t.Fatalf("captures %q, want %q", m.Captures, tc.captures)
			}
		})
	}

	notFound := []struct {
		name   string
		acct   string
		dialed string
		own    bool
	}{
		{"no_match not for carriers", acct, "5551234", false},
		{"no_match only for digits", acct, "alice", true},
		{"another account's number", acct, "200", false},
		{"another account's pattern", acct, "9123", false},
		{"our numbers from another account", other, "100", true},
		{"empty number", acct, "", true},
		{"over-long number", acct, string(make([]byte, dialplan.MaxDialedLength+1)), true},
		{"malformed account", "ACCOUNT", "100", true},
		{"unknown account", store.NewID(), "100", true},
	}
	for _, tc := range notFound {
		t.Run(tc.name, func(t *testing.T) {
			m, err := e.res.Find(ctx, tc.acct, tc.dialed, tc.own)
			var nf *dialplan.NotFoundError
			if !errors.As(err, &nf) || !errors.Is(err, dialplan.ErrNoRoute) || nf.SIPStatus() != 404 {
				t.Fatalf("got %+v, %v; want a NotFoundError", m, err)
			}
		})
	}
}

// respCode is the response code of a matched test flow (see flow).
func respCode(t testing.TB, m dialplan.Match) int {
	t.Helper()
	c, ok := m.Node.Config.(*response.Config)
	if !ok {
		t.Fatalf("matched node is %s, not a test flow", m.Node.Module)
	}
	return c.Code
}

// eventually polls f until it holds; document events travel over NATS, so
// invalidation is asynchronous (bounded by a deadline, no sleeps).
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

func TestSavedCallflowFoundByNextCall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := store.NewID()
	e.create(t, a, []string{"100"}, nil, 401)
	for _, d := range []string{"100", "300", "*5"} {
		_, _ = e.res.Find(ctx, a, d, false) // warm the table, with misses
	}
	id := e.create(t, a, []string{"300"}, nil, 402)
	m, err := e.res.Find(ctx, a, "300", false)
	if err != nil || m.CallflowID != id {
		t.Fatalf("new number not found at once: %+v %v", m, err)
	}
	pid := e.create(t, a, nil, []string{`^\*5$`}, 403)
	m, err = e.res.Find(ctx, a, "*5", false)
	if err != nil || m.CallflowID != pid {
		t.Fatalf("new pattern not found at once: %+v %v", m, err)
	}
	nm := e.create(t, a, []string{"no_match"}, nil, 404)
	if m, err = e.res.Find(ctx, a, "0123", true); err != nil || m.CallflowID != nm {
		t.Fatalf("new no_match not found at once: %+v %v", m, err)
	}
}

func TestCacheInvalidatedByEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := store.NewID()
	id := e.create(t, a, []string{"100"}, []string{`^7(\d)$`}, 401)
	m, err := e.res.Find(ctx, a, "100", false)
	if err != nil || respCode(t, m) != 401 {
		t.Fatalf("%+v %v", m, err)
	}

	update := func(body map[string]any) {
		t.Helper()
		_, err := e.st.Update(ctx, a, store.TypeCallflow, id, 0, func(map[string]any) (map[string]any, error) { return body, nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	update(map[string]any{"numbers": []any{"100"}, "patterns": []any{`^7(\d)$`}, "flow": flow(402)})
	eventually(t, "the changed flow is used", func() bool {
		m, err := e.res.Find(ctx, a, "100", false)
		return err == nil && respCode(t, m) == 402
	})

	// The number moves: the old one stops matching, the new one matches.
	update(map[string]any{"numbers": []any{"101"}, "flow": flow(402)})
	if m, err := e.res.Find(ctx, a, "101", false); err != nil || m.CallflowID != id {
		t.Fatalf("moved number: %+v %v", m, err)
	}
	eventually(t, "the old number and the removed pattern stop matching", func() bool {
		_, err1 := e.res.Find(ctx, a, "100", false)
		_, err2 := e.res.Find(ctx, a, "71", false)
		return errors.Is(err1, dialplan.ErrNoRoute) && errors.Is(err2, dialplan.ErrNoRoute)
	})

	if _, err := e.st.Delete(ctx, a, store.TypeCallflow, id, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a deleted callflow stops matching", func() bool {
		_, err := e.res.Find(ctx, a, "101", false)
		return errors.Is(err, dialplan.ErrNoRoute)
	})
	if _, err := e.res.Callflow(ctx, a, id); !errors.Is(err, callflow.ErrNotFound) {
		t.Fatalf("deleted callflow still loads: %v", err)
	}
}

// Without events (subscription closed) the table is kept until MaxAge:
// this shows lookups are served from the cache, and that lost events cost
// at most MaxAge of staleness.
func TestCacheMaxAge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := store.NewID()
	id := e.create(t, a, []string{"100"}, nil, 401)
	if m, err := e.res.Find(ctx, a, "100", false); err != nil || respCode(t, m) != 401 {
		t.Fatalf("%+v %v", m, err)
	}
	if err := e.res.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Update(ctx, a, store.TypeCallflow, id, 0, func(map[string]any) (map[string]any, error) {
		return map[string]any{"numbers": []any{"100"}, "flow": flow(402)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if m, err := e.res.Find(ctx, a, "100", false); err != nil || respCode(t, m) != 401 {
		t.Fatalf("cache not used: %+v %v", m, err)
	}
	e.clk.Advance(5*time.Minute - time.Second)
	if m, _ := e.res.Find(ctx, a, "100", false); respCode(t, m) != 401 {
		t.Fatal("table rebuilt before MaxAge")
	}
	e.clk.Advance(time.Second)
	if m, err := e.res.Find(ctx, a, "100", false); err != nil || respCode(t, m) != 402 {
		t.Fatalf("table not rebuilt after MaxAge: %+v %v", m, err)
	}
}

func TestBadStoredCallflows(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := store.NewID()
	// Written straight to the store (the API would refuse them): a PCRE
	// look-ahead Go cannot compile, and a flow that does not validate.
	e.create(t, a, nil, []string{`^(?=1)(\d+)$`}, 401)
	bad, err := e.st.Create(ctx, &store.Doc{Account: a, Type: store.TypeCallflow, Body: map[string]any{
		"numbers": []any{"200"}, "flow": map[string]any{"module": "no_such_module", "data": map[string]any{}}}})
	if err != nil {
		t.Fatal(err)
	}
	good := e.create(t, a, nil, []string{`^1(\d+)$`, `^(2)?3(\d)$`}, 402)

	m, err := e.res.Find(ctx, a, "1234", false)
	if err != nil || m.CallflowID != good || !slices.Equal(m.Captures, []string{"234"}) {
		t.Fatalf("%+v %v", m, err)
	}
	if m, err = e.res.Find(ctx, a, "34", false); err != nil || !slices.Equal(m.Captures, []string{"", "4"}) {
		t.Fatalf("unmatched optional group: %+v %v", m, err)
	}
	if _, err := e.res.Find(ctx, a, "200", false); !errors.Is(err, dialplan.ErrNoRoute) {
		t.Fatalf("invalid flow used: %v", err)
	}
	if _, err := e.res.Callflow(ctx, a, bad.ID); !errors.Is(err, callflow.ErrNotFound) {
		t.Fatalf("invalid flow loaded: %v", err)
	}
	if n, err := e.res.Callflow(ctx, a, good); err != nil || n == nil {
		t.Fatalf("callflow by id: %v", err)
	}
	for _, id := range []string{"", "nope", store.NewID()} {
		if _, err := e.res.Callflow(ctx, a, id); !errors.Is(err, callflow.ErrNotFound) {
			t.Fatalf("Callflow(%q) = %v", id, err)
		}
	}
}

func TestConcurrentColdLookups(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := store.NewID()
	id := e.create(t, a, []string{"100"}, nil, 401)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			m, err := e.res.Find(ctx, a, "100", false)
			if err == nil && m.CallflowID != id {
				err = errors.New("wrong callflow " + m.CallflowID)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkFind measures lookups served from a warm table: an account with
// 500 numbered callflows and 50 patterns.
func BenchmarkFind(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	a := store.NewID()
	for i := range 500 {
		var patterns []string
		if i < 50 {
			patterns = []string{fmt.Sprintf(`^\*%d(\d*)$`, 10+i)}
		}
		e.create(b, a, []string{strconv.Itoa(1000 + i)}, patterns, 486)
	}
	e.create(b, a, []string{"no_match"}, nil, 404)
	for _, bc := range []struct{ name, dialed string }{
		{"number", "1250"},
		{"pattern", "*4912345"},
		{"no_match", "14155550100"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := e.res.Find(ctx, a, bc.dialed, true); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.res.Find(ctx, a, bc.dialed, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

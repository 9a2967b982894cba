package dialplan_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/bus/bustest"
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

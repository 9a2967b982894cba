package cdr_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/store"
)

// fixture is the CDR stream on a real embedded JetStream.
type fixture struct {
	js jetstream.JetStream
	w  *cdr.Writer
	r  *cdr.Reader
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFixture(t testing.TB, opts cdr.ReaderOptions) *fixture {
	t.Helper()
	srv := bustest.Start(t)
	if _, err := store.Provision(context.Background(), srv.JS, store.ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	return &fixture{js: srv.JS, w: cdr.NewWriter(srv.JS, quiet()), r: cdr.NewReader(srv.JS, quiet(), opts)}
}

// record is a leg of account created at t.
func record(account, callID string, t time.Time) cdr.Record {
	t = t.UTC()
	return cdr.Record{
		ID: cdr.RecordID(callID), CallID: callID, CallDirection: "inbound",
		CallerIDNumber: "100", CalleeIDNumber: "101", From: "100@a.example", To: "101@a.example",
		Request: "101@a.example", DurationSeconds: 12, BillingSeconds: 10, RingingSeconds: 2,
		Timestamp: store.GregorianSeconds(t), Created: t, HangupCause: "NORMAL_CLEARING", HangupCode: "sip:200",
		CustomChannelVars: map[string]string{"account_id": account},
		MediaServer:       "media-1", AccountID: account,
	}
}

func (f *fixture) write(t testing.TB, recs ...cdr.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range recs {
		if err := f.w.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) list(t testing.TB, account string, from, to time.Time) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := f.r.List(ctx, account, from, to)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func ids(l []map[string]any) []string {
	out := make([]string, len(l))
	for i, m := range l {
		out[i], _ = m["id"].(string)
	}
	return out
}

func sameIDs(t testing.TB, got []map[string]any, want ...cdr.Record) {
	t.Helper()
	g := ids(got)
	if len(g) != len(want) {
		t.Fatalf("got %d records %v, want %d", len(g), g, len(want))
	}
	for i := range want {
		if g[i] != want[i].ID {
			t.Fatalf("record %d is %s, want %s (order: oldest first); got %v", i, g[i], want[i].ID, g)
		}
	}
}

func streamMsgs(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), store.StreamCDR)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

var (
	acctA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	acctB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestWriterStoresARetriedRecordOnce(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{})
	now := time.Now().Truncate(time.Second)
	r := record(acctA, "call-1@host", now.Add(-time.Minute))
	f.write(t, r, r)
	if n := streamMsgs(t, f.js); n != 1 {
		t.Fatalf("stream holds %d messages after writing one record twice, want 1", n)
	}
	sameIDs(t, f.list(t, acctA, now.Add(-time.Hour), now), r)
}

func TestReaderListsALegWrittenTwiceOnce(t *testing.T) {
	// Past the stream's duplicate window (a takeover long after the first
	// write) the stream holds two messages; the reader lists the leg once,
	// as last written.
	f := newFixture(t, cdr.ReaderOptions{})
	now := time.Now().Truncate(time.Second)
	first := record(acctA, "call-2@host", now.Add(-time.Minute))
	body, err := json.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.js.Publish(ctx, bus.CDR(acctA, first.ID), body, jetstream.WithMsgID("old-window")); err != nil {
		t.Fatal(err)
	}
	second := first
	second.HangupCause = "ORIGINATOR_CANCEL"
	f.write(t, second)
	if n := streamMsgs(t, f.js); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
	got := f.list(t, acctA, now.Add(-time.Hour), now)
	sameIDs(t, got, first)
	if got[0]["hangup_cause"] != "ORIGINATOR_CANCEL" {
		t.Fatalf("listed %v, want the last write", got[0]["hangup_cause"])
	}
}

func TestWriterRejectsBadIDs(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{})
	for name, r := range map[string]cdr.Record{
		"empty id":          {AccountID: acctA},
		"wildcard id":       {ID: ">", AccountID: acctA},
		"bad account":       {ID: cdr.RecordID("x"), AccountID: "a.b"},
		"uppercase account": {ID: cdr.RecordID("x"), AccountID: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := f.w.Write(context.Background(), r); err == nil {
				t.Fatal("Write accepted a record that cannot be filed")
			}
		})
	}
	if n := streamMsgs(t, f.js); n != 0 {
		t.Fatalf("stream holds %d messages after rejected writes", n)
	}
}

func TestReaderRangeEdges(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{})
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	before := record(acctA, "before", base.Add(-time.Second))
	atFrom := record(acctA, "at-from", base)
	inside := record(acctA, "inside", base.Add(30*time.Minute))
	// Within the last second of the range: Kazoo's ranges are whole seconds.
	atTo := record(acctA, "at-to", base.Add(time.Hour).Add(900*time.Millisecond))
	after := record(acctA, "after", base.Add(time.Hour+time.Second))
	// Written out of creation order: a long call hangs up after a short one.
	f.write(t, inside, after, atTo, before, atFrom)

	cases := []struct {
		name     string
		from, to time.Time
		want     []cdr.Record
	}{
		{"both ends included", base, base.Add(time.Hour), []cdr.Record{atFrom, inside, atTo}},
		{"one-second range", base, base, []cdr.Record{atFrom}},
		{"everything", base.Add(-time.Hour), time.Now(), []cdr.Record{before, atFrom, inside, atTo, after}},
		{"empty gap", base.Add(time.Second), base.Add(29 * time.Minute), nil},
		{"future", time.Now().Add(time.Hour), time.Now().Add(2 * time.Hour), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sameIDs(t, f.list(t, acctA, c.from, c.to), c.want...)
		})
	}
	t.Run("empty account", func(t *testing.T) {
		sameIDs(t, f.list(t, "cccccccccccccccccccccccccccccccc", base.Add(-time.Hour), time.Now()))
	})
}

func TestReaderHidesOtherAccounts(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{})
	now := time.Now().Truncate(time.Second)
	a := record(acctA, "a-call", now.Add(-time.Minute))
	b := record(acctB, "b-call", now.Add(-time.Minute))
	f.write(t, a, b)
	sameIDs(t, f.list(t, acctA, now.Add(-time.Hour), now), a)
	sameIDs(t, f.list(t, acctB, now.Add(-time.Hour), now), b)

	ctx := context.Background()
	got, err := f.r.Get(ctx, acctA, a.ID)
	if err != nil || got["id"] != a.ID || got["call_id"] != "a-call" {
		t.Fatalf("Get own record: %v %v", got, err)
	}
	if _, err := f.r.Get(ctx, acctA, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of another account's record: %v, want store.ErrNotFound", err)
	}
	// A record id that is not a subject token never reaches the subject.
	for _, id := range []string{">", "*", b.ID[:31], acctB + "." + b.ID, ""} {
		if _, err := f.r.Get(ctx, acctA, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(%q): %v, want store.ErrNotFound", id, err)
		}
	}
	if _, err := f.r.Get(ctx, "*", b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get with a wildcard account: %v, want store.ErrNotFound", err)
	}
}

func TestReaderServesKazooFieldsOnly(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{})
	now := time.Now().Truncate(time.Second)
	r := record(acctA, "fields", now.Add(-time.Minute))
	f.write(t, r)
	// A record written by a future version with a private field.
	body, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	m["id"] = cdr.RecordID("future")
	m["pvt_vendor_cost"] = 3
	m["new_field"] = "kept"
	body, _ = json.Marshal(m)
	if _, err := f.js.Publish(context.Background(), bus.CDR(acctA, cdr.RecordID("future")), body); err != nil {
		t.Fatal(err)
	}
	got := f.list(t, acctA, now.Add(-time.Hour), now)
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2", len(got))
	}
	for _, g := range got {
		for _, k := range []string{"call_id", "call_direction", "caller_id_number", "callee_id_number", "from", "to",
			"request", "duration_seconds", "billing_seconds", "ringing_seconds", "timestamp", "hangup_cause",
			"hangup_code", "custom_channel_vars", "media_server", "account_id"} {
			if _, ok := g[k]; !ok {
				t.Fatalf("record lacks Kazoo field %q: %v", k, g)
			}
		}
		if _, ok := g["pvt_vendor_cost"]; ok {
			t.Fatalf("private field served: %v", g)
		}
		if ts, _ := g["timestamp"].(json.Number); ts.String() != json.Number(jsonInt(r.Timestamp)).String() {
			t.Fatalf("timestamp %v, want %d exactly", g["timestamp"], r.Timestamp)
		}
	}
	if got[1]["new_field"] != "kept" && got[0]["new_field"] != "kept" {
		t.Fatalf("unknown field of a newer writer dropped: %v", got)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestReaderSkipsMisfiledAndBrokenRecords(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{})
	now := time.Now().Truncate(time.Second)
	good := record(acctA, "good", now.Add(-time.Minute))
	f.write(t, good)
	ctx := context.Background()
	// A record claiming account B filed under account A, and garbage.
	misfiled := record(acctB, "misfiled", now.Add(-time.Minute))
	body, _ := json.Marshal(misfiled)
	if _, err := f.js.Publish(ctx, bus.CDR(acctA, misfiled.ID), body); err != nil {
		t.Fatal(err)
	}
	if _, err := f.js.Publish(ctx, bus.CDR(acctA, cdr.RecordID("junk")), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	sameIDs(t, f.list(t, acctA, now.Add(-time.Hour), now), good)
	if _, err := f.r.Get(ctx, acctA, misfiled.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a misfiled record: %v, want store.ErrNotFound", err)
	}
}

func TestReaderScanWindow(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	t.Run("clock skew", func(t *testing.T) {
		// A media node whose clock runs an hour ahead stamps created later
		// than the stream's time; the skew allowance still finds it.
		f := newFixture(t, cdr.ReaderOptions{ClockSkew: 2 * time.Hour})
		ahead := record(acctA, "ahead", now.Add(time.Hour))
		f.write(t, ahead)
		sameIDs(t, f.list(t, acctA, now.Add(30*time.Minute), now.Add(2*time.Hour)), ahead)
	})
	t.Run("no skew allowance", func(t *testing.T) {
		f := newFixture(t, cdr.ReaderOptions{ClockSkew: time.Nanosecond})
		ahead := record(acctA, "ahead", now.Add(time.Hour))
		f.write(t, ahead)
		sameIDs(t, f.list(t, acctA, now.Add(30*time.Minute), now.Add(2*time.Hour)))
	})
	t.Run("leg longer than the scan", func(t *testing.T) {
		// Written now for a leg created 3 h ago: past MaxLegDuration after
		// the range's end, so the scan stops before it.
		f := newFixture(t, cdr.ReaderOptions{MaxLegDuration: time.Minute, ClockSkew: time.Nanosecond})
		long := record(acctA, "long", now.Add(-3*time.Hour))
		f.write(t, long)
		sameIDs(t, f.list(t, acctA, now.Add(-4*time.Hour), now.Add(-2*time.Hour)))
		sameIDs(t, f.list(t, acctA, now.Add(-4*time.Hour), now), long)
	})
}

func TestReaderCapsRecords(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{MaxRecords: 3})
	now := time.Now().Truncate(time.Second)
	for i := range 4 {
		f.write(t, record(acctA, "cap-"+string(rune('a'+i)), now.Add(-time.Minute)))
	}
	_, err := f.r.List(context.Background(), acctA, now.Add(-time.Hour), now)
	if !errors.Is(err, cdr.ErrTooMany) {
		t.Fatalf("List over the cap: %v, want ErrTooMany", err)
	}
}

func TestReaderRejectsBadQueries(t *testing.T) {
	f := newFixture(t, cdr.ReaderOptions{})
	now := time.Now()
	if _, err := f.r.List(context.Background(), "aaaa.>", now.Add(-time.Hour), now); err == nil {
		t.Fatal("List accepted an account that is not a subject token")
	}
	if _, err := f.r.List(context.Background(), acctA, now, now.Add(-time.Hour)); err == nil {
		t.Fatal("List accepted a range that ends before it starts")
	}
}

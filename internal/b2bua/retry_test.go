package b2bua

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/store"
)

// startMedia runs another media node on the env's bus, routing with the
// env's router, and waits until the edge sends calls to it.
func (en *env) startMedia(id string, mod func(*Config)) *Server {
	en.t.Helper()
	log := testLogger()
	ports, err := media.NewPorts(netip.MustParseAddr("127.0.0.1"), testPorts, log)
	if err != nil {
		en.t.Fatal(err)
	}
	b := en.st.Buckets()
	cfg := Config{NodeID: id, RTPIP: netip.MustParseAddr("127.0.0.1")}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, Deps{Conn: en.srv.Conn, Buckets: b, Docs: en.st,
		Location: location.New(en.srv.JS, b.Registrations, en.clk), CDRs: cdr.NewWriter(en.srv.JS, log),
		Ports: ports, Clock: en.clk, Logger: log.With("role", "media", "node", id),
		Router: RouterFunc(func(ctx context.Context, c callflow.Call) error {
			r := en.router.Load()
			if r == nil {
				return ErrNoRoute
			}
			return (*r).Route(ctx, c)
		})})
	if err != nil {
		en.t.Fatal(err)
	}
	if err := s.Start(en.t.Context()); err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	waitFor(en.t, "the edge to see "+id, func() bool { return slices.Contains(en.edge.LiveNodes(), id) })
	return s
}

// allCDRs reads every CDR of the account through the REST API, waiting
// for want of them.
func (en *env) allCDRs(want int) []cdr.Record {
	en.t.Helper()
	var out []cdr.Record
	waitFor(en.t, "CDRs", func() bool {
		out = out[:0]
		for _, m := range en.apiList("/cdrs?page_size=100") {
			b, _ := json.Marshal(m)
			var r cdr.Record
			if err := json.Unmarshal(b, &r); err != nil {
				en.t.Fatal(err)
			}
			out = append(out, r)
		}
		return len(out) >= want
	})
	if len(out) != want {
		en.t.Fatalf("%d CDRs, want %d: %+v", len(out), want, out)
	}
	return out
}

// refuseAll makes a node refuse every new call for overload.
func refuseAll(c *Config) { c.MinFreePortPairs = testPorts.High - testPorts.Low }

// TestEdgeRetriesOverloadedNode: media1 refuses every new call for
// overload; the edge places the call on media2, which owns it (call key),
// lists it once in channels and bills it; media1's refused attempt has
// its own CDR with hangup cause SWITCH_CONGESTION.
func TestEdgeRetriesOverloadedNode(t *testing.T) {
	t.Parallel()
	en := newEnv(t, refuseAll)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	m2 := en.startMedia("media2", nil)
	alice, bob := en.registeredPair()

	// Whichever node the edge picks first, the call ends up on media2.
	placed := 0
	// The edge picks the less loaded of two random live nodes, so media1
	// comes first only now and then: up to 40 calls make that all but sure.
	for ; placed < 40 && en.b2b.RefusedCalls() == 0; placed++ {
		d, bd := answerCall(en, alice, bob)
		e, err := en.st.Buckets().Calls.Get(t.Context(), store.CallKey(d.callID))
		if err != nil {
			t.Fatal(err)
		}
		var rec Record
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.OwnerNode != "media2" {
			t.Fatalf("call owned by %q", rec.OwnerNode)
		}
		chans := en.channels()
		if len(chans) != 2 {
			t.Fatalf("%d channels for one call, want its 2 legs: %v", len(chans), chans)
		}
		bob.hangUp(bd, alice)
		waitFor(t, "media2's call to end", func() bool { return m2.LiveCalls() == 0 })
	}
	if en.b2b.RefusedCalls() == 0 {
		t.Fatal("the edge never tried media1")
	}
	en.noLiveCalls()
	waitFor(t, "no channels", func() bool { return len(en.channels()) == 0 })

	// media1's CDR for the refused attempt and media2's for the call.
	var refused, billed int
	recs := en.allCDRs(int(en.b2b.RefusedCalls()) + 2*placed)
	for _, r := range recs {
		switch r.MediaServer {
		case "media1":
			if r.HangupCause != "SWITCH_CONGESTION" || r.HangupCode != "sip:503" || r.BillingSeconds != 0 {
				t.Fatalf("refused attempt's CDR: %+v", r)
			}
			refused++
		case "media2":
			if r.HangupCause != "NORMAL_CLEARING" {
				t.Fatalf("call's CDR: %+v", r)
			}
			billed++
		}
	}
	if refused != int(en.b2b.RefusedCalls()) || billed != 2*placed {
		t.Fatalf("%d refused and %d call CDRs: %+v", refused, billed, recs)
	}
}

// TestEdgeRelays503WhenEveryNodeRefuses: both nodes refuse; the phone
// gets the 503 with Retry-After once both were tried.
func TestEdgeRelays503WhenEveryNodeRefuses(t *testing.T) {
	t.Parallel()
	en := newEnv(t, refuseAll)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	m2 := en.startMedia("media2", refuseAll)
	alice, _ := en.registeredPair()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	r := alice.resp(503)
	if r.GetHeader("Retry-After") == nil {
		t.Fatalf("503 without Retry-After:\n%s", r)
	}
	alice.ackFailure(d, r)
	if en.b2b.RefusedCalls() != 1 || m2.RefusedCalls() != 1 {
		t.Fatalf("refused: media1 %d, media2 %d; want each once", en.b2b.RefusedCalls(), m2.RefusedCalls())
	}
	en.noLiveCalls()
	waitFor(t, "media2 to finish", func() bool { return m2.LiveCalls() == 0 })
	for _, r := range en.allCDRs(2) {
		if r.CallID != d.callID || r.HangupCause != "SWITCH_CONGESTION" {
			t.Fatalf("CDR: %+v", r)
		}
	}
}

// TestEdgeRetryCancelled: the caller cancels while the call rings on the
// node it was moved to: the CANCEL reaches that node, the callee's INVITE
// is cancelled and the caller gets 487.
func TestEdgeRetryCancelled(t *testing.T) {
	t.Parallel()
	en := newEnv(t, refuseAll)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	m2 := en.startMedia("media2", nil)
	alice, bob := en.registeredPair()
	for i := 0; i < 8 && en.b2b.RefusedCalls() == 0; i++ {
		d := alice.call("101", alice.sdpBody(1, "", 0))
		alice.resp(100)
		inv := bob.req(sip.INVITE)
		bob.respond(inv, 180, "bt", "")
		alice.resp(180)
		alice.cancel(d)
		alice.resp(200) // the CANCEL's answer
		bob.acceptCancel(inv, "bt")
		r := alice.resp(487)
		alice.ackFailure(d, r)
		waitFor(t, "media2's call to end", func() bool { return m2.LiveCalls() == 0 })
	}
	if en.b2b.RefusedCalls() == 0 {
		t.Fatal("the edge never tried media1")
	}
	en.noLiveCalls()
}

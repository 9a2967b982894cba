package b2bua

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/cdr"
)

// TestOverloadRefusesNewCallsWhileSetupFull: with one call allowed in
// setup, a second new INVITE gets 503 + Retry-After at once (and a CDR),
// while the established call's re-INVITE and BYE are still served; once
// the call in setup is answered, new calls are taken again.
func TestOverloadRefusesNewCallsWhileSetupFull(t *testing.T) {
	t.Parallel()
	en := newEnv(t, func(c *Config) { c.MaxSetupCalls = 1; c.OverloadRetryAfter = 2500 * time.Millisecond })
	en.setRouter(func(ctx context.Context, c callflow.Call) error {
		_, err := c.Bridge(ctx, callflow.BridgeRequest{Endpoints: en.endpoints(c.Dialed())})
		return err
	})
	alice, bob, carol := en.phone("100"), en.phone("101"), en.phone("102")
	alice.register()
	bob.register()
	carol.register()

	// An established call, then a second one left in setup (carol has
	// its INVITE and has not answered).
	d, bd := setupCall(t, en, alice, bob)
	if n := en.b2b.SetupCalls(); n != 0 {
		t.Fatalf("%d calls in setup after the answer, want 0", n)
	}
	pending := bob.call("102", bob.sdpBody(1, "", 0))
	bob.resp(100)
	carolInv := carol.req(sip.INVITE)
	if n := en.b2b.SetupCalls(); n != 1 {
		t.Fatalf("%d calls in setup, want 1", n)
	}

	// Over the bound: refused at once, no routing, Retry-After rounded up.
	refused := alice.call("102", alice.sdpBody(1, "", 0))
	r := alice.resp(503)
	if got := r.GetHeader("Retry-After"); got == nil || got.Value() != "3" {
		t.Fatalf("503 without Retry-After: 3:\n%s", r)
	}
	alice.ackFailure(refused, r)
	if n := en.b2b.RefusedCalls(); n != 1 {
		t.Fatalf("%d refused calls, want 1", n)
	}

	// The established call is still served: re-INVITE and BYE.
	d.cseq++
	alice.inDialog(d, "INVITE", d.cseq, alice.sdpBody(2, "sendonly", 8, 101))
	reinv := bob.req(sip.INVITE)
	bob.respond(reinv, 200, "bobtag", bob.sdpBody(2, "recvonly", 8, 101))
	if ok := alice.resp(200); ok.CSeq().MethodName != sip.INVITE {
		t.Fatalf("re-INVITE answered with %s", firstLine(ok))
	}
	alice.ack(d, d.cseq)
	bob.req(sip.ACK)
	alice.bye(d)
	bye := bob.req(sip.BYE)
	bob.respond(bye, 200, "", "")

	// The call in setup rings: it leaves setup, and new calls are taken.
	carol.incoming(carolInv, "ct")
	carol.respond(carolInv, 180, "ct", "")
	bob.resp(180)
	waitFor(t, "setup count to drop", func() bool { return en.b2b.SetupCalls() == 0 })
	// A late copy of the refused INVITE gets the same 503, it does not
	// become a call now that there is room.
	waitFor(t, "the refused call's tombstone", func() bool { _, ok := en.b2b.gone.Load(refused.callID); return ok })
	alice.send(refused.inviteMsg)
	if r := alice.resp(503); r.CallID().Value() != refused.callID {
		t.Fatalf("503 for %s, want the refused call", r.CallID().Value())
	}
	if n := en.b2b.RefusedCalls(); n != 1 {
		t.Fatalf("%d refused calls after the retransmission, want 1", n)
	}
	again := alice.call("101", alice.sdpBody(1, "", 0))
	alice.resp(100)
	inv := bob.req(sip.INVITE)
	bob.respond(inv, 486, "bt2", "")
	bob.req(sip.ACK)
	busy := alice.resp(486)
	alice.ackFailure(again, busy)

	carol.respond(carolInv, 486, "ct", "")
	carol.req(sip.ACK)
	pr := bob.resp(486)
	bob.ackFailure(pending, pr)
	en.noLiveCalls()

	// 2 legs each for the established, the pending and the re-admitted
	// call, 1 for the refused caller.
	recs := en.cdrs(7)
	rec, ok := recs[refused.callID]
	if !ok || rec.HangupCode != "sip:503" || rec.CallDirection != "inbound" || rec.AccountID != en.acct ||
		rec.CustomChannelVars["authorizing_id"] != en.devs["100"] {
		t.Fatalf("refused call's CDR: %+v", rec)
	}
	if recs[d.callID].HangupCause != "NORMAL_CLEARING" || recs[bd.callID].HangupCause != "NORMAL_CLEARING" {
		t.Fatalf("established call's CDRs: %+v / %+v", recs[d.callID], recs[bd.callID])
	}
	if n := en.b2b.SetupCalls(); n != 0 {
		t.Fatalf("%d calls in setup at the end, want 0", n)
	}
}

// TestOverloadRefusesWhenPortsShort: fewer free RTP pairs than the
// configured floor refuses every new call before any port is taken.
func TestOverloadRefusesWhenPortsShort(t *testing.T) {
	t.Parallel()
	en := newEnv(t, func(c *Config) { c.MinFreePortPairs = testPorts.High - testPorts.Low })
	routed := make(chan struct{}, 1)
	en.setRouter(func(ctx context.Context, c callflow.Call) error {
		routed <- struct{}{}
		return ErrNoRoute
	})
	alice := en.phone("100")
	alice.register()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	r := alice.resp(503)
	if got := r.GetHeader("Retry-After"); got == nil || got.Value() != "5" {
		t.Fatalf("503 without the default Retry-After: 5:\n%s", r)
	}
	alice.ackFailure(d, r)
	en.noLiveCalls()
	if rec := en.cdrs(1)[d.callID]; rec.HangupCode != "sip:503" {
		t.Fatalf("refused call's CDR: %+v", rec)
	}
	select {
	case <-routed:
		t.Fatal("a refused call was routed")
	default:
	}
	if en.b2b.d.Ports.InUse() != 0 {
		t.Fatal("a refused call holds RTP ports")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 30 * time.Second: 30} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// TestOverloadDefaultsAndDisable: zero values get the documented
// defaults; negative bounds switch the checks off.
func TestOverloadDefaultsAndDisable(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	if c := en.b2b.cfg; c.MaxSetupCalls != defaultMaxSetupCalls || c.MinFreePortPairs != 2 || c.OverloadRetryAfter != 5*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	en.b2b.setup.Store(defaultMaxSetupCalls)
	if why := en.b2b.overloaded(); why != "calls in setup" {
		t.Fatalf("at the setup bound: overloaded() = %q", why)
	}
	en.b2b.setup.Store(0)

	off := newEnv(t, func(c *Config) { c.MaxSetupCalls, c.MinFreePortPairs = -1, -1 })
	off.b2b.setup.Store(1 << 20)
	defer off.b2b.setup.Store(0)
	if why := off.b2b.overloaded(); why != "" {
		t.Fatalf("disabled checks still refuse: %q", why)
	}
}

// TestOverloadRefusesPastMaxCalls: with MaxCalls 1 a second call gets the
// overload 503 (billed as SWITCH_CONGESTION, never routed) while the
// first is live; once it ends, calls are taken again. The announced load
// is against MaxCalls, not the RTP range.
func TestOverloadRefusesPastMaxCalls(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, func(c *Config) { c.MaxCalls = 1 })
	d, bd := setupCall(t, en, alice, bob)
	if err := en.b2b.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if hb, ok := en.heartbeat(); !ok || hb.Load != 1 {
		t.Fatalf("load with 1 of 1 calls: %+v", hb)
	}

	refused := alice.call("101", alice.sdpBody(1, "", 0))
	r := alice.resp(503)
	if r.GetHeader("Retry-After") == nil {
		t.Fatalf("503 without Retry-After:\n%s", r)
	}
	alice.ackFailure(refused, r)
	bob.quiet()
	if n := en.b2b.RefusedCalls(); n != 1 {
		t.Fatalf("%d refused calls, want 1", n)
	}

	alice.hangUp(d, bob)
	_ = bd
	waitFor(t, "the calls to end", func() bool { return en.b2b.LiveCalls() == 0 })
	again, _ := answerCall(en, alice, bob)
	alice.hangUp(again, bob)
	en.noLiveCalls()
	recs := en.cdrs(5)
	if rec := recs[refused.callID]; rec.HangupCause != "SWITCH_CONGESTION" || rec.HangupCode != "sip:503" ||
		rec.ID == cdr.RecordID(refused.callID) {
		t.Fatalf("refused call's CDR: %+v", rec)
	}

	off := newEnv(t, func(c *Config) { c.MaxCalls = -1 })
	off.b2b.live.Store(1 << 20)
	defer off.b2b.live.Store(0)
	if why := off.b2b.overloaded(); why != "" {
		t.Fatalf("unbounded node refuses: %q", why)
	}
}

package b2bua

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/sipbus"
)

// finalPair reads the two answers a CANCEL produces (200 for the CANCEL,
// 487 for the INVITE) in either order and returns the 487.
func finalPair(t *testing.T, p *phone) *sip.Response {
	t.Helper()
	var r487 *sip.Response
	got200 := false
	for !got200 || r487 == nil {
		r := p.resp(200, 487)
		switch {
		case r.StatusCode == 487:
			r487 = r
		case r.CSeq().MethodName == sip.CANCEL:
			got200 = true
		default:
			t.Fatalf("unexpected %d for %s", r.StatusCode, r.CSeq().MethodName)
		}
	}
	return r487
}

// results collects bridge outcomes a router saw.
type results chan callflow.BridgeResult

// bridgeReporting is bridgeTo that also sends each bridge's result to res.
func (en *env) bridgeReporting(res results, req callflow.BridgeRequest) func(ctx context.Context, c callflow.Call) error {
	return func(ctx context.Context, c callflow.Call) error {
		r, err := c.Bridge(ctx, req)
		res <- r
		return err
	}
}

func (r results) next(t *testing.T) callflow.BridgeResult {
	t.Helper()
	select {
	case x := <-r:
		return x
	case <-time.After(5 * time.Second):
		t.Fatal("no bridge result")
	}
	return callflow.BridgeResult{}
}

func TestCallerCancelWhileRinging(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	en.setRouter(en.bridgeReporting(res, callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, bob := en.registeredPair()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.req(sip.INVITE)
	bd := bob.incoming(inv, "bt")
	bob.respond(inv, 180, "bt", "")
	alice.resp(180)

	alice.cancel(d)
	r := finalPair(t, alice)
	alice.ackFailure(d, r)
	cancel := bob.req(sip.CANCEL)
	bob.respond(cancel, 200, "", "")
	bob.respond(inv, 487, "bt", "")
	if ack := bob.req(sip.ACK); topBranch(ack) != topBranch(inv) {
		t.Fatalf("ACK of the 487 is not in the INVITE transaction: %s vs %s", topBranch(ack), topBranch(inv))
	}
	if got := res.next(t); got.Outcome != callflow.CallerGone {
		t.Fatalf("bridge outcome %v, want caller_gone", got.Outcome)
	}
	en.noLiveCalls()
	recs := en.cdrs(2)
	if a := recs[d.callID]; a.HangupCause != "ORIGINATOR_CANCEL" || a.HangupCode != "sip:487" || a.BillingSeconds != 0 {
		t.Fatalf("caller CDR %+v", a)
	}
	if b := recs[bd.callID]; b.HangupCause != "ORIGINATOR_CANCEL" || b.HangupCode != "sip:487" {
		t.Fatalf("callee CDR %+v", b)
	}
}

// busyRouter bridges to 101 and on Busy follows the "_" child to 102, or
// answers 486 when sip486 is set (the "sip:486" child).
func busyRouter(en *env, res results, sip486 bool) func(ctx context.Context, c callflow.Call) error {
	return func(ctx context.Context, c callflow.Call) error {
		r, err := c.Bridge(ctx, callflow.BridgeRequest{Endpoints: en.endpoints("101")})
		res <- r
		if err != nil || r.Outcome == callflow.Answered || r.Outcome == callflow.CallerGone {
			return err
		}
		if sip486 && r.Code == 486 {
			return c.Respond(ctx, 486, "")
		}
		r, err = c.Bridge(ctx, callflow.BridgeRequest{Endpoints: en.endpoints("102")})
		res <- r
		return err
	}
}

func TestCalleeBusyTakesDefaultBranch(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	en.setRouter(busyRouter(en, res, false))
	alice, bob, carol := en.registeredTrio()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.req(sip.INVITE)
	bob.respond(inv, 486, "bt", "")
	bob.req(sip.ACK)
	if got := res.next(t); got.Outcome != callflow.Busy || got.Code != 486 {
		t.Fatalf("bridge result %+v, want busy/486", got)
	}
	// The "_" branch rings carol, who answers.
	_, cd, _ := carol.answer(alice, d, "ct")
	alice.bye(d)
	bye := carol.req(sip.BYE)
	carol.respond(bye, 200, "", "")
	if got := res.next(t); got.Outcome != callflow.Answered {
		t.Fatalf("second bridge %+v", got)
	}
	en.noLiveCalls()
	recs := en.cdrs(3)
	if a := recs[d.callID]; a.HangupCause != "NORMAL_CLEARING" || a.OtherLegCallID != cd.callID {
		t.Fatalf("caller CDR %+v", a)
	}
	if b := recs[inv.CallID().Value()]; b.HangupCause != "USER_BUSY" || b.HangupCode != "sip:486" || b.CallDirection != "outbound" {
		t.Fatalf("busy callee CDR %+v", b)
	}
}

func TestCalleeBusySIP486Branch(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	en.setRouter(busyRouter(en, res, true))
	alice, bob := en.registeredPair()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.req(sip.INVITE)
	bob.respond(inv, 486, "bt", "")
	bob.req(sip.ACK)
	r := alice.resp(486)
	alice.ackFailure(d, r)
	en.noLiveCalls()
	recs := en.cdrs(2)
	if a := recs[d.callID]; a.HangupCause != "USER_BUSY" || a.HangupCode != "sip:486" {
		t.Fatalf("caller CDR %+v", a)
	}
}

func TestUnregisteredCalleeUnavailable(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	// No "_" child: the B2BUA answers the caller.
	en.setRouter(en.bridgeReporting(res, callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice := en.phone("100")
	alice.register()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	r := alice.resp(480)
	alice.ackFailure(d, r)
	if got := res.next(t); got.Outcome != callflow.Unavailable {
		t.Fatalf("outcome %v, want unavailable", got.Outcome)
	}
	en.noLiveCalls()
	if a := en.cdrs(1)[d.callID]; a.HangupCause != "NO_ANSWER" || a.HangupCode != "sip:480" || a.CallDirection != "inbound" {
		t.Fatalf("caller CDR %+v", a)
	}
}

func TestCallerExcludedUnlessCanCallSelf(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	self := false
	en.setRouter(func(ctx context.Context, c callflow.Call) error {
		r, err := c.Bridge(ctx, callflow.BridgeRequest{Endpoints: en.endpoints("100"), CanCallSelf: self})
		res <- r
		return err
	})
	alice := en.phone("100")
	alice.register()
	d := alice.call("100", alice.sdpBody(1, "", 0))
	alice.ackFailure(d, alice.resp(480))
	if got := res.next(t); got.Outcome != callflow.Unavailable {
		t.Fatalf("calling yourself without can_call_self: %v", got.Outcome)
	}
	en.noLiveCalls()
}

func TestDisabledDeviceNotRung(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	en.setRouter(en.bridgeReporting(res, callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, bob := en.registeredPair()
	en.setField("device", en.devs["101"], "enabled", false)
	d := alice.call("101", alice.sdpBody(1, "", 0))
	alice.ackFailure(d, alice.resp(480))
	if got := res.next(t); got.Outcome != callflow.Unavailable {
		t.Fatalf("disabled device: %v", got.Outcome)
	}
	bob.quiet()
	en.noLiveCalls()
}

// TestDoNotDisturbDeviceNotRung: a device in do-not-disturb is not rung,
// through a callflow (its "_" branch answers 486) as through a bridge.
func TestDoNotDisturbDeviceNotRung(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.useEngine()
	en.callflow([]string{"401"}, node("device", map[string]any{"id": en.devs["101"]}, map[string]any{
		"_": node("response", map[string]any{"code": 486}, nil),
	}))
	alice, bob := en.registeredPair()
	en.setField("device", en.devs["101"], "do_not_disturb", map[string]any{"enabled": true})
	d := alice.call("401", alice.sdpBody(1, "", 0))
	alice.ackFailure(d, alice.resp(486))
	bob.quiet()
	en.noLiveCalls()
	if r := en.cdrs(1)[d.callID]; r.HangupCode != "sip:486" {
		t.Fatalf("caller CDR %+v", r)
	}
}

func TestNoAnswerTimeout(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 4)
	en.setRouter(en.bridgeReporting(res, callflow.BridgeRequest{Endpoints: []callflow.Endpoint{{DeviceID: en.devs["101"], Timeout: 15 * time.Second}}}))
	alice, bob := en.registeredPair()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.ringFrom(alice, "bt")
	en.clk.Advance(14 * time.Second)
	bob.quiet()
	en.clk.Advance(time.Second)
	bob.acceptCancel(inv, "bt")
	if got := res.next(t); got.Outcome != callflow.NoAnswer {
		t.Fatalf("outcome %v, want no_answer", got.Outcome)
	}
	alice.ackFailure(d, alice.resp(480))
	en.noLiveCalls()
	recs := en.cdrs(2)
	if b := recs[inv.CallID().Value()]; b.HangupCause != "NO_ANSWER" || b.RingingSeconds != 15 {
		t.Fatalf("callee CDR %+v", b)
	}
	if a := recs[d.callID]; a.HangupCode != "sip:480" || a.DurationSeconds != 15 {
		t.Fatalf("caller CDR %+v", a)
	}
}

func TestCodecMismatch488(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)

	// Caller offers only codecs we do not relay.
	d := alice.call("101", alice.sdpBody(1, "", 9, 18))
	r := alice.resp(488)
	if w := r.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "305") {
		t.Fatalf("488 without a media Warning: %s", r)
	}
	alice.ackFailure(d, r)
	bob.quiet()

	// Callee refuses our offer: the caller gets its 488.
	d2 := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.req(sip.INVITE)
	bob.respond(inv, 488, "bt", "")
	bob.req(sip.ACK)
	alice.ackFailure(d2, alice.resp(488))
	en.noLiveCalls()
	recs := en.cdrs(3)
	if a := recs[d.callID]; a.HangupCause != "INCOMPATIBLE_DESTINATION" || a.HangupCode != "sip:488" {
		t.Fatalf("caller CDR %+v", a)
	}
	if b := recs[inv.CallID().Value()]; b.HangupCode != "sip:488" {
		t.Fatalf("callee CDR %+v", b)
	}
}

func TestMalformedSDP400(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice := en.phone("100")
	alice.register()
	d := alice.call("101", "v=0\r\nthis is not sdp\r\n")
	alice.ackFailure(d, alice.resp(400))
	en.noLiveCalls()
	if a := en.cdrs(1)[d.callID]; a.HangupCode != "sip:400" {
		t.Fatalf("caller CDR %+v", a)
	}
}

func TestNoRoute404(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil) // no router set: ErrNoRoute
	alice := en.phone("100")
	alice.register()
	d := alice.call("555", alice.sdpBody(1, "", 0))
	alice.ackFailure(d, alice.resp(404))
	en.noLiveCalls()
	if a := en.cdrs(1)[d.callID]; a.HangupCause != "UNALLOCATED_NUMBER" {
		t.Fatalf("caller CDR %+v", a)
	}
}

func TestRequireUnsupported420(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice := en.phone("100")
	alice.register()
	// An INVITE requiring 100rel.
	d := alice.callWith("101", alice.sdpBody(1, "", 0), "Require: 100rel")
	r := alice.resp(420)
	if u := r.GetHeader("Unsupported"); u == nil || u.Value() != "100rel" {
		t.Fatalf("420 without Unsupported: %s", r)
	}
	alice.ackFailure(d, r)
	en.noLiveCalls()
	if a := en.cdrs(1)[d.callID]; a.HangupCode != "sip:420" {
		t.Fatalf("caller CDR %+v", a)
	}
}

func TestRespondRejectsBadCodes(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	errs := make(chan error, 2)
	en.setRouter(func(ctx context.Context, c callflow.Call) error {
		errs <- c.Respond(ctx, 150, "")
		errs <- c.Respond(ctx, 603, "Not Today")
		return nil
	})
	alice := en.phone("100")
	alice.register()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	r := alice.resp(603)
	if r.Reason != "Not Today" {
		t.Fatalf("reason %q", r.Reason)
	}
	alice.ackFailure(d, r)
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "not a final failure status") {
		t.Fatalf("Respond(150): %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("Respond(603): %v", err)
	}
	en.noLiveCalls()
	if a := en.cdrs(1)[d.callID]; a.HangupCause != "CALL_REJECTED" || a.HangupCode != "sip:603" {
		t.Fatalf("caller CDR %+v", a)
	}
}

func TestUnknownDialogAtNode481(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	p := en.phone("100")
	edgeAddr := en.edge.Addr().String()
	bye := "BYE sip:strowger@" + edgeAddr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + edgeAddr + ";branch=z9hG4bK-se-x\r\n" +
		"Via: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK-p1\r\nFrom: <sip:100@b2b.test>;tag=a\r\n" +
		"To: <sip:101@b2b.test>;tag=b\r\nCall-ID: gone@test\r\nCSeq: 5 BYE\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n"
	env := sipbus.Envelope{Kind: sipbus.KindRequest, Edge: "edge1", Node: "media1",
		Flow: &sipbus.Flow{Transport: "udp", Remote: p.addr(), Local: edgeAddr}, CallID: "gone@test", Msg: []byte(bye)}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := en.srv.Conn.Publish(bus.MediaNodeSIP("media1"), b); err != nil {
		t.Fatal(err)
	}
	if r := p.resp(481); r.CallID().Value() != "gone@test" {
		t.Fatalf("481 for another call: %s", r)
	}
	// Garbage on the node's subject is dropped without a reply.
	_ = en.srv.Conn.Publish(bus.MediaNodeSIP("media1"), []byte("not an envelope"))
	p.quiet()
}

func TestFailureRetransmittedUntilAckAndAbsorbedAfter(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.req(sip.INVITE)
	bob.respond(inv, 486, "bt", "")
	bob.req(sip.ACK)
	r := alice.resp(486)
	// Timer G: the 486 comes again until the ACK.
	en.clk.Advance(500 * time.Millisecond)
	alice.resp(486)
	alice.ackFailure(d, r)
	en.noLiveCalls()
	en.clk.Advance(4 * time.Second)
	alice.quiet()
	// A late copy of the INVITE gets the same answer, not a new call.
	alice.send(d.inviteMsg)
	if again := alice.resp(486); tagOf(again.To().Params) != tagOf(r.To().Params) {
		t.Fatal("late INVITE answered by a new transaction")
	}
	bob.quiet()
	if n := en.b2b.LiveCalls(); n != 0 {
		t.Fatalf("%d live calls after a late retransmission", n)
	}
	en.cdrs(2)
}

func TestLongRingAndCancelRetransmission(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	res := make(results, 2)
	en.setRouter(en.bridgeReporting(res, callflow.BridgeRequest{Endpoints: []callflow.Endpoint{{DeviceID: en.devs["101"], Timeout: 45 * time.Second}}}))
	alice, bob := en.registeredPair()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.ringFrom(alice, "bt")
	// Past timer B (32 s): a ringing callee keeps ringing.
	en.clk.Advance(40 * time.Second)
	bob.quiet()
	en.clk.Advance(5 * time.Second)
	c := bob.req(sip.CANCEL)
	// No answer to the CANCEL yet: it is retransmitted (timer E).
	en.clk.Advance(500 * time.Millisecond)
	if c2 := bob.req(sip.CANCEL); topBranch(c2) != topBranch(c) {
		t.Fatal("CANCEL retransmission changed branch")
	}
	bob.respond(c, 200, "", "")
	waitFor(t, "the CANCEL's answer to reach the call", func() bool {
		done := false
		en.inCall(d.callID, func(c *call) {
			for _, l := range c.order {
				done = l.cancelAnswered
			}
		})
		return done
	})
	en.clk.Advance(4 * time.Second)
	bob.quiet()
	bob.respond(inv, 487, "bt", "")
	bob.req(sip.ACK)
	if r := res.next(t); r.Outcome != callflow.NoAnswer {
		t.Fatalf("outcome %v", r.Outcome)
	}
	alice.ackFailure(d, alice.resp(480))
	en.noLiveCalls()
	en.cdrs(2)
}

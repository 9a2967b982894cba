package b2bua

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/store"
)

// checkpointOf reads the caller key's checkpoint from KV, as a node
// taking the call over would.
func (en *env) checkpointOf(callID string) *Checkpoint {
	en.t.Helper()
	kv, err := en.srv.JS.KeyValue(en.t.Context(), store.BucketCalls)
	if err != nil {
		en.t.Fatal(err)
	}
	e, err := kv.Get(en.t.Context(), store.CallKey(callID))
	if err != nil {
		en.t.Fatalf("reading the call key: %v", err)
	}
	var rec Record
	if err := jsonUnmarshal(e.Value(), &rec); err != nil {
		en.t.Fatal(err)
	}
	if rec.Checkpoint == nil {
		en.t.Fatal("caller key without a checkpoint")
	}
	return rec.Checkpoint
}

// answerTaken waits until the checkpoint shows no answer due any more
// (the ACK reached the call and was applied).
func (en *env) answerTaken(callID string) {
	en.t.Helper()
	waitFor(en.t, "the answer to reach the checkpoint", func() bool { return en.checkpointOf(callID).PendingOffer == nil })
}

// ackWith ACKs the 2xx of INVITE cseq with an SDP body (our offer's
// answer; "" for none).
func (p *phone) ackWith(d *pdialog, cseq int, body string) {
	d2 := *d
	p.inDialog(&d2, "ACK", cseq, body)
}

// placeLate has alice call 101 without SDP, checks the offer the callee
// gets is our own, and returns the dialog and the INVITE bob got.
func placeLate(t *testing.T, alice, bob *phone) (*pdialog, *sip.Request) {
	t.Helper()
	d := alice.call("101", "")
	alice.resp(100)
	inv := bob.req(sip.INVITE)
	checkOurOffer(t, inv.Body(), "PCMU/8000", "PCMA/8000")
	return d, inv
}

// checkOurOffer checks an offer of the node: our address, a sendrecv
// audio stream with the codecs and telephone-event.
func checkOurOffer(t *testing.T, body []byte, codecs ...string) {
	t.Helper()
	b := string(body)
	if !strings.Contains(b, "c=IN IP4 127.0.0.1") || !strings.Contains(b, "a=sendrecv") ||
		!strings.Contains(b, "telephone-event/8000") {
		t.Fatalf("not our offer:\n%s", b)
	}
	for _, c := range codecs {
		if !strings.Contains(b, c) {
			t.Fatalf("offer without %s:\n%s", c, b)
		}
	}
}

// TestLateOfferCall: a caller without SDP is offered our session in the
// 200 (the codec the callee chose), answers in the ACK, and media flows
// both ways through the anchored ports; the checkpoint shows the pending
// answer until the ACK.
func TestLateOfferCall(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, inv := placeLate(t, alice, bob)
	bd := bob.incoming(inv, "bt")
	bob.respond(inv, 180, "bt", "")
	if r := alice.resp(180); len(r.Body()) != 0 {
		t.Fatalf("180 to a late-offer caller carries SDP:\n%s", r)
	}
	bob.respond(inv, 200, "bt", bob.sdpBody(1, "", 8, 101))
	ok := alice.resp(200)
	bob.req(sip.ACK)
	offer := ok.Body()
	checkOurOffer(t, offer, "PCMA/8000")
	if strings.Contains(string(offer), "PCMU") || strings.Contains(string(offer), itoa(bob.rtpPort())) {
		t.Fatalf("offer to the caller is not the callee's codec on our address:\n%s", offer)
	}
	cp := en.checkpointOf(d.callID)
	if !cp.LateOffer || cp.PendingOffer == nil || !cp.PendingOffer.Initial || cp.PendingOffer.CallID != d.callID ||
		cp.PendingOffer.SDP != string(offer) || cp.PendingOffer.CSeq != uint32(d.cseq) {
		t.Fatalf("checkpoint before the ACK: %+v %+v", cp, cp.PendingOffer)
	}

	alice.established(d, ok)
	alice.ackWith(d, d.cseq, alice.sdpBody(1, "", 8, 101))
	en.answerTaken(d.callID)
	if cp := en.checkpointOf(d.callID); !cp.LateOffer || cp.Media == nil || cp.State != "answered" {
		t.Fatalf("checkpoint after the ACK: %+v", cp)
	}
	if chans := en.channels(); len(chans) != 2 || chans[0]["answered"] != true || chans[1]["answered"] != true {
		t.Fatalf("channels: %v", chans)
	}

	aPort, bPort := sdpPeer(t, offer), sdpPeer(t, inv.Body())
	alice.rtpTo(aPort, 8, 0x1111, 100, 0xA1, bob, bPort)
	bob.rtpTo(bPort, 8, 0x2222, 500, 0xB2, alice, aPort)

	bob.hangUp(bd, alice)
	en.noLiveCalls()
	recs := en.cdrs(2)
	if a, b := recs[d.callID], recs[inv.CallID().Value()]; a.HangupCause != "NORMAL_CLEARING" ||
		b.HangupCause != "NORMAL_CLEARING" || a.OtherLegCallID != inv.CallID().Value() {
		t.Fatalf("CDRs %+v / %+v", a, b)
	}
}

// TestLateOfferEarlyMedia: a callee's 183 with SDP reaches a late-offer
// caller as 183 without SDP; the answer waits for the 200.
func TestLateOfferEarlyMedia(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, inv := placeLate(t, alice, bob)
	bob.respond(inv, 183, "bt", bob.sdpBody(1, "", 0))
	early := alice.resp(183)
	if len(early.Body()) != 0 || early.GetHeader("Content-Type") != nil {
		t.Fatalf("183 to a late-offer caller carries SDP:\n%s", early)
	}
	bob.respond(inv, 200, "bt", bob.sdpBody(1, "", 0))
	ok := alice.resp(200)
	bob.req(sip.ACK)
	checkOurOffer(t, ok.Body(), "PCMU/8000")
	alice.established(d, ok)
	alice.ackWith(d, d.cseq, alice.sdpBody(1, "", 0, 101))
	en.answerTaken(d.callID)
	aPort, bPort := sdpPeer(t, ok.Body()), sdpPeer(t, inv.Body())
	bob.rtpTo(bPort, 0, 0x3333, 7, 0x5A, alice, aPort)
	alice.hangUp(d, bob)
	en.noLiveCalls()
	en.cdrs(2)
}

// TestLateOfferBadAck: an ACK without the answer, or with one that takes
// none of the offered codecs, ends the call: BYE to both, with a Reason,
// and both CDRs say INCOMPATIBLE_DESTINATION sip:488.
func TestLateOfferBadAck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, ack string }{
		{"no SDP", ""},
		{"no common codec", "pcmu"}, // the offer had PCMA only
		{"malformed", "v=0\r\nnot sdp\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			en, alice, bob := newBridgeEnv(t, nil)
			d, inv := placeLate(t, alice, bob)
			bob.respond(inv, 200, "bt", bob.sdpBody(1, "", 8))
			ok := alice.resp(200)
			bob.req(sip.ACK)
			alice.established(d, ok)
			body := tc.ack
			if body == "pcmu" {
				body = alice.sdpBody(1, "", 0)
			}
			alice.ackWith(d, d.cseq, body)
			for _, p := range []*phone{alice, bob} {
				bye := p.req(sip.BYE)
				if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=488") {
					t.Fatalf("BYE without the 488 Reason:\n%s", bye)
				}
				p.respond(bye, 200, "", "")
			}
			en.noLiveCalls()
			recs := en.cdrs(2)
			for _, id := range []string{d.callID, inv.CallID().Value()} {
				if r := recs[id]; r.HangupCause != "INCOMPATIBLE_DESTINATION" || r.HangupCode != "sip:488" {
					t.Fatalf("CDR of %s: %+v", id, r)
				}
			}
		})
	}
}

// TestLateOffer200Retransmitted: the 200 retransmitted until the ACK is
// the same offer, byte for byte; the answer is taken from the first ACK
// only (a second ACK with an unusable body changes nothing).
func TestLateOffer200Retransmitted(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, inv := placeLate(t, alice, bob)
	bob.respond(inv, 200, "bt", bob.sdpBody(1, "", 0, 8, 101))
	ok := alice.resp(200)
	bob.req(sip.ACK)
	checkOurOffer(t, ok.Body(), "PCMU/8000", "PCMA/8000")
	en.clk.Advance(500 * time.Millisecond)
	again := alice.resp(200)
	en.clk.Advance(time.Second)
	third := alice.resp(200)
	if !bytes.Equal(again.Body(), ok.Body()) || !bytes.Equal(third.Body(), ok.Body()) {
		t.Fatalf("retransmitted 200 changed the offer:\n%s\n---\n%s", ok.Body(), again.Body())
	}
	// A retransmitted INVITE gets the same 200 too.
	alice.send(d.inviteMsg)
	if r := alice.resp(200); !bytes.Equal(r.Body(), ok.Body()) {
		t.Fatalf("200 to a retransmitted INVITE changed the offer:\n%s", r.Body())
	}

	alice.established(d, ok)
	alice.ackWith(d, d.cseq, alice.sdpBody(1, "", 8, 101))
	en.waitAcked(d.callID)
	alice.ackWith(d, d.cseq, "")                       // no answer: would end the call if taken
	alice.ackWith(d, d.cseq, alice.sdpBody(2, "", 18)) // G.729 only: likewise
	en.clk.Advance(4 * time.Second)
	alice.quiet()
	bob.quiet()
	var pcma bool
	en.inCall(d.callID, func(c *call) { pcma = c.negA != nil && c.negA.Audio().Name == "PCMA" })
	if !pcma {
		t.Fatal("the first ACK's answer (PCMA) is not the caller's negotiation")
	}
	aPort, bPort := sdpPeer(t, ok.Body()), sdpPeer(t, inv.Body())
	alice.rtpTo(aPort, 8, 0x1111, 100, 0xA7, bob, bPort)
	alice.hangUp(d, bob)
	en.noLiveCalls()
	en.cdrs(2)
}

// TestLateOfferForkFirst2xxWins: every fork of a late-offer call gets the
// same offer of ours; the first 2xx is offered on to the caller, the other
// fork is cancelled.
func TestLateOfferForkFirst2xxWins(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, desk, soft := en.phone("100"), en.phone("101"), en.phone("101")
	alice.register()
	desk.register()
	soft.register()
	d := alice.call("101", "")
	i1, i2 := desk.req(sip.INVITE), soft.req(sip.INVITE)
	checkOurOffer(t, i1.Body(), "PCMU/8000", "PCMA/8000")
	if sdpPeer(t, i1.Body()) != sdpPeer(t, i2.Body()) {
		t.Fatal("forks offered different media addresses")
	}
	desk.respond(i1, 180, "desk", "")
	alice.resp(180)
	soft.respond(i2, 200, "soft", soft.sdpBody(1, "", 8, 101))
	ok := alice.resp(200)
	soft.req(sip.ACK)
	checkOurOffer(t, ok.Body(), "PCMA/8000")
	c := desk.req(sip.CANCEL)
	desk.respond(c, 200, "", "")
	desk.respond(i1, 487, "desk", "")
	desk.req(sip.ACK)

	alice.established(d, ok)
	alice.ackWith(d, d.cseq, alice.sdpBody(1, "", 8))
	en.answerTaken(d.callID)
	aPort, bPort := sdpPeer(t, ok.Body()), sdpPeer(t, i2.Body())
	soft.rtpTo(bPort, 8, 0x4444, 1, 0x6B, alice, aPort)
	alice.rtpTo(aPort, 8, 0x5555, 1, 0x7C, soft, bPort)
	alice.hangUp(d, soft)
	en.noLiveCalls()
	recs := en.cdrs(3)
	if l := recs[i1.CallID().Value()]; l.HangupCause != "LOSE_RACE" {
		t.Fatalf("losing fork CDR %+v", l)
	}
	if w := recs[i2.CallID().Value()]; w.HangupCause != "NORMAL_CLEARING" || w.OtherLegCallID != d.callID {
		t.Fatalf("winning fork CDR %+v", w)
	}
}

// TestLateOfferAnsweredByModule: a callflow answering a late-offer caller
// itself offers everything we relay; the ACK's answer sets the caller's
// side of the media.
func TestLateOfferAnsweredByModule(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	hangup := make(chan struct{})
	en.setRouter(func(ctx context.Context, c callflow.Call) error {
		if err := c.Answer(ctx); err != nil {
			return err
		}
		select {
		case <-hangup:
		case <-ctx.Done():
		}
		return c.Hangup(ctx, "")
	})
	alice := en.phone("100")
	alice.register()
	d := alice.call("101", "")
	ok := alice.resp(200)
	checkOurOffer(t, ok.Body(), "PCMU/8000", "PCMA/8000")
	if cp := en.checkpointOf(d.callID); cp.PendingOffer == nil || !cp.PendingOffer.Initial {
		t.Fatalf("checkpoint before the ACK: %+v", cp)
	}
	alice.established(d, ok)
	alice.ackWith(d, d.cseq, alice.sdpBody(1, "", 8, 101))
	en.answerTaken(d.callID)
	var peer string
	en.inCall(d.callID, func(c *call) { peer = c.relay.State().Legs[0].SDPPeer.String() })
	if want := sdpPeer(t, []byte(alice.sdpBody(1, "", 8))).String(); peer != want {
		t.Fatalf("caller leg peer %s, want %s", peer, want)
	}
	close(hangup)
	alice.respond(alice.req(sip.BYE), 200, "", "")
	en.noLiveCalls()
	en.cdrs(1)
}

// heldAt waits until the relay has dropped packets from leg from because
// its other leg is held.
func (en *env) heldAt(callID string, from media.LegID) {
	en.t.Helper()
	waitFor(en.t, "RTP to be held", func() bool {
		var n uint64
		en.inCall(callID, func(c *call) { n = c.relay.Stats(from).Held })
		return n > 0
	})
}

// TestOfferlessReinviteFromCaller: the caller's re-INVITE without SDP gets
// our current session as the offer (same version: nothing changed), no
// re-INVITE goes to the callee, and the ACK's answer holds and resumes the
// caller's side of the media.
func TestOfferlessReinviteFromCaller(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, _ := setupCall(t, en, alice, bob)
	aPort, bPort := sdpPeer(t, d.answer), sdpPeer(t, en.calleeOffer(d.callID))

	r := reinviteNoSDP(alice, d)
	if !bytes.Equal(r.Body(), d.answer) {
		t.Fatalf("offer differs from our unchanged session:\n%s\n---\n%s", r.Body(), d.answer)
	}
	bob.quiet()
	if cp := en.checkpointOf(d.callID); cp.PendingOffer == nil || cp.PendingOffer.CallID != d.callID || cp.PendingOffer.Initial {
		t.Fatalf("checkpoint while the answer is due: %+v", cp.PendingOffer)
	}
	// The caller holds in its answer: the callee's media stops reaching it.
	alice.ackWith(d, d.cseq, alice.sdpBody(2, "sendonly", 8, 101))
	en.answerTaken(d.callID)
	bob.sendRTP(bPort, 8, 0x2222, 10, 5, 0xB1)
	en.heldAt(d.callID, media.LegB)
	alice.sendRTP(aPort, 8, 0x1111, 10, 5, 0xA1)
	bob.recvRTP(8, 0xA1)

	// Resume the same way.
	r = reinviteNoSDP(alice, d)
	if !bytes.Equal(r.Body(), d.answer) {
		t.Fatalf("resume offer changed:\n%s", r.Body())
	}
	alice.ackWith(d, d.cseq, alice.sdpBody(3, "sendrecv", 8, 101))
	en.answerTaken(d.callID)
	bob.rtpTo(bPort, 8, 0x2222, 20, 0xB3, alice, aPort)
	bob.quiet()
	alice.hangUp(d, bob)
	en.noLiveCalls()
}

// TestOfferlessReinviteFromCallee: the callee's re-INVITE without SDP gets
// our session narrowed to the codec in use (changed: version+1), a
// re-INVITE from the other side meanwhile gets 491, and the ACK's answer
// holds and resumes the callee.
func TestOfferlessReinviteFromCallee(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, bd := setupCall(t, en, alice, bob)
	first := en.calleeOffer(d.callID)
	aPort, bPort := sdpPeer(t, d.answer), sdpPeer(t, first)

	r := reinviteNoSDP(bob, bd)
	offer := string(r.Body())
	if !originVersion(offer, 2) || strings.Contains(offer, "PCMU") || !strings.Contains(offer, "PCMA/8000") ||
		sdpPeer(t, r.Body()) != bPort {
		t.Fatalf("offer to the callee:\n%s\n(first offer:\n%s)", offer, first)
	}
	// An offer of ours is outstanding: the caller's re-INVITE must wait.
	d.cseq++
	alice.inDialog(d, "INVITE", d.cseq, alice.sdpBody(2, "sendonly", 8))
	alice.resp(491)
	alice.quiet()

	bob.ackWith(bd, bd.cseq, bob.sdpBody(2, "sendonly", 8, 101))
	en.answerTaken(d.callID)
	alice.sendRTP(aPort, 8, 0x1111, 10, 5, 0xA2)
	en.heldAt(d.callID, media.LegA)
	bob.sendRTP(bPort, 8, 0x2222, 10, 5, 0xB2)
	alice.recvRTP(8, 0xB2)

	r = reinviteNoSDP(bob, bd)
	if string(r.Body()) != offer {
		t.Fatalf("unchanged re-offer differs:\n%s\n---\n%s", r.Body(), offer)
	}
	bob.ackWith(bd, bd.cseq, bob.sdpBody(3, "sendrecv", 8, 101))
	en.answerTaken(d.callID)
	alice.rtpTo(aPort, 8, 0x1111, 20, 0xA4, bob, bPort)
	alice.quiet()
	bob.hangUp(bd, alice)
	en.noLiveCalls()
}

// reinviteNoSDP sends a re-INVITE without SDP and returns the 200 (not
// ACKed: the answer goes in the ACK the test sends).
func reinviteNoSDP(p *phone, d *pdialog) *sip.Response {
	p.t.Helper()
	d.cseq++
	p.inDialog(d, "INVITE", d.cseq, "")
	r := p.resp(200)
	if len(r.Body()) == 0 {
		p.t.Fatalf("200 to an offerless re-INVITE without an offer:\n%s", r)
	}
	return r
}

// calleeOffer is our current SDP toward the bridged callee.
func (en *env) calleeOffer(callID string) []byte {
	en.t.Helper()
	var b []byte
	en.inCall(callID, func(c *call) { b = c.sdpB })
	if b == nil {
		en.t.Fatal("no SDP toward the callee")
	}
	return b
}

// TestOfferlessReinviteAckWithoutAnswer: an ACK that owes the answer to
// our re-offer and has none ends the call like a late offer's would.
func TestOfferlessReinviteAckWithoutAnswer(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, bd := setupCall(t, en, alice, bob)
	reinviteNoSDP(bob, bd)
	bob.ackWith(bd, bd.cseq, "")
	for _, p := range []*phone{alice, bob} {
		bye := p.req(sip.BYE)
		if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=488") {
			t.Fatalf("BYE without the 488 Reason:\n%s", bye)
		}
		p.respond(bye, 200, "", "")
	}
	en.noLiveCalls()
	recs := en.cdrs(2)
	for _, id := range []string{d.callID, bd.callID} {
		if r := recs[id]; r.HangupCause != "INCOMPATIBLE_DESTINATION" || r.HangupCode != "sip:488" {
			t.Fatalf("CDR of %s: %+v", id, r)
		}
	}
}

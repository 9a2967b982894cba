package b2bua

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/callflow"
)

func TestForkFirstAnswerWins(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, desk, soft := en.phone("100"), en.phone("101"), en.phone("101")
	alice.register()
	desk.register()
	soft.register()
	d := alice.call("101", alice.sdpBody(1, "", 0, 101))
	i1 := desk.req(sip.INVITE)
	i2 := soft.req(sip.INVITE)
	if i1.CallID().Value() == i2.CallID().Value() {
		t.Fatal("forks share a Call-ID")
	}
	desk.respond(i1, 180, "desk", "")
	soft.respond(i2, 180, "soft", "")
	soft.respond(i2, 200, "soft", soft.sdpBody(1, "", 0, 101))
	ok := alice.resp(200)
	alice.established(d, ok)
	alice.ack(d, d.cseq)
	soft.req(sip.ACK)

	// The losing fork is cancelled within its INVITE transaction.
	c := desk.req(sip.CANCEL)
	if topBranch(c) != topBranch(i1) {
		t.Fatalf("CANCEL branch %s, INVITE branch %s", topBranch(c), topBranch(i1))
	}
	desk.respond(c, 200, "", "")
	desk.respond(i1, 487, "desk", "")
	desk.req(sip.ACK)

	sd := soft.incoming(i2, "soft")
	soft.hangUp(sd, alice)
	en.noLiveCalls()
	recs := en.cdrs(3)
	if l := recs[i1.CallID().Value()]; l.HangupCause != "LOSE_RACE" || l.HangupCode != "sip:487" {
		t.Fatalf("losing fork CDR %+v", l)
	}
	if w := recs[i2.CallID().Value()]; w.HangupCause != "NORMAL_CLEARING" || w.OtherLegCallID != d.callID {
		t.Fatalf("winning fork CDR %+v", w)
	}
	if a := recs[d.callID]; a.OtherLegCallID != i2.CallID().Value() {
		t.Fatalf("caller CDR other leg %q", a.OtherLegCallID)
	}
}

func TestForkLate2xxIsAckedAndEnded(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, desk, soft := en.phone("100"), en.phone("101"), en.phone("101")
	alice.register()
	desk.register()
	soft.register()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	i1 := desk.req(sip.INVITE)
	i2 := soft.req(sip.INVITE)
	desk.respond(i1, 180, "desk", "")
	soft.respond(i2, 200, "soft", soft.sdpBody(1, "", 0))
	alice.established(d, alice.resp(200))
	alice.ack(d, d.cseq)
	soft.req(sip.ACK)

	// desk answered too, crossing our CANCEL.
	c := desk.req(sip.CANCEL)
	desk.respond(c, 200, "", "")
	desk.respond(i1, 200, "desk", desk.sdpBody(1, "", 0))
	desk.req(sip.ACK)
	bye := desk.req(sip.BYE)
	desk.respond(bye, 200, "", "")

	alice.hangUp(d, soft)
	en.noLiveCalls()
	recs := en.cdrs(3)
	if l := recs[i1.CallID().Value()]; l.HangupCause != "LOSE_RACE" {
		t.Fatalf("late fork CDR %+v", l)
	}
}

func TestHoldResumeBothSides(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, bd := setupCall(t, en, alice, bob)

	// alice holds: bob is re-offered sendonly from our address, version+1.
	done := make(chan *sip.Response, 1)
	go func() { done <- reinviteAsync(alice, d, alice.sdpBody(2, "sendonly", 8)) }()
	ri := bob.req(sip.INVITE)
	body := string(ri.Body())
	if !strings.Contains(body, "a=sendonly") || !strings.Contains(body, "c=IN IP4 127.0.0.1") ||
		strings.Contains(body, itoa(alice.rtpPort())) || !originVersion(body, 2) {
		t.Fatalf("hold re-offer to the callee:\n%s", body)
	}
	bob.respond(ri, 200, "", bob.sdpBody(2, "recvonly", 8))
	r := <-done
	if r == nil || !strings.Contains(string(r.Body()), "a=recvonly") || !originVersion(string(r.Body()), 2) {
		t.Fatalf("hold answer to the caller: %v", r)
	}
	bob.req(sip.ACK)

	// alice resumes.
	go func() { done <- reinviteAsync(alice, d, alice.sdpBody(3, "sendrecv", 8)) }()
	ri = bob.req(sip.INVITE)
	if b := string(ri.Body()); !strings.Contains(b, "a=sendrecv") || !originVersion(b, 3) {
		t.Fatalf("resume re-offer:\n%s", b)
	}
	bob.respond(ri, 200, "", bob.sdpBody(3, "sendrecv", 8))
	if r := <-done; r == nil || !strings.Contains(string(r.Body()), "a=sendrecv") {
		t.Fatalf("resume answer: %v", r)
	}
	bob.req(sip.ACK)

	// bob holds from his side: alice gets the re-INVITE in her dialog.
	go func() { done <- reinviteAsync(bob, bd, bob.sdpBody(4, "sendonly", 8)) }()
	ai := alice.req(sip.INVITE)
	if ai.CallID().Value() != d.callID || !strings.Contains(string(ai.Body()), "a=sendonly") {
		t.Fatalf("re-INVITE to the caller:\n%s", ai)
	}
	alice.respond(ai, 200, "", alice.sdpBody(4, "recvonly", 8))
	if r := <-done; r == nil || !strings.Contains(string(r.Body()), "a=recvonly") {
		t.Fatalf("callee hold answer: %v", r)
	}
	alice.req(sip.ACK)

	// bob resumes.
	go func() { done <- reinviteAsync(bob, bd, bob.sdpBody(5, "sendrecv", 8)) }()
	ai = alice.req(sip.INVITE)
	alice.respond(ai, 200, "", alice.sdpBody(5, "sendrecv", 8))
	if r := <-done; r == nil || !strings.Contains(string(r.Body()), "a=sendrecv") {
		t.Fatalf("callee resume answer: %v", r)
	}
	alice.req(sip.ACK)

	// Media relays both ways after the changes.
	bPort := sdpPeer(t, ri.Body())
	ans := sdpPeer(t, d.answer)
	alice.rtpTo(ans, 8, 0x1111, 200, 0xC3, bob, bPort)
	bob.rtpTo(bPort, 8, 0x2222, 900, 0xD4, alice, ans)
	alice.hangUp(d, bob)
	en.noLiveCalls()
}

func reinviteAsync(p *phone, d *pdialog, body string) *sip.Response {
	d.cseq++
	p.inDialog(d, "INVITE", d.cseq, body)
	for {
		select {
		case m := <-p.in:
			r, ok := m.(*sip.Response)
			if !ok {
				// A request crossing ours: hand it back to the test.
				p.in <- m
				continue
			}
			if r.StatusCode < 200 {
				continue
			}
			if r.StatusCode == 200 {
				p.ack(d, d.cseq)
				d.answer = r.Body()
				return r
			}
			return nil
		case <-time.After(5 * time.Second):
			return nil
		}
	}
}

func originVersion(body string, v int) bool {
	for _, l := range strings.Split(body, "\r\n") {
		if strings.HasPrefix(l, "o=") {
			f := strings.Fields(l)
			return len(f) > 2 && f[2] == itoa(v)
		}
	}
	return false
}

func TestRTPTimeoutEndsCall(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, func(c *Config) { c.RTPTimeout = 30 * time.Second })
	d, bd := setupCall(t, en, alice, bob)
	en.clk.Advance(29 * time.Second)
	alice.quiet()
	en.clk.Advance(2 * time.Second)
	alice.respond(alice.req(sip.BYE), 200, "", "")
	bob.respond(bob.req(sip.BYE), 200, "", "")
	en.noLiveCalls()
	recs := en.cdrs(2)
	if a := recs[d.callID]; a.HangupCause != "MEDIA_TIMEOUT" || a.BillingSeconds < 30 || a.BillingSeconds > 31 {
		t.Fatalf("caller CDR %+v", a)
	}
	if b := recs[bd.callID]; b.HangupCause != "MEDIA_TIMEOUT" {
		t.Fatalf("callee CDR %+v", b)
	}
}

func TestRetransmissions(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d := alice.call("101", alice.sdpBody(1, "", 0))
	alice.resp(100)

	// Timer A: the unanswered INVITE to the callee is retransmitted with
	// the same branch at T1, then 2·T1.
	i1 := bob.req(sip.INVITE)
	en.clk.Advance(500 * time.Millisecond)
	i2 := bob.req(sip.INVITE)
	if topBranch(i1) != topBranch(i2) {
		t.Fatalf("retransmission is a new transaction: %s vs %s", topBranch(i1), topBranch(i2))
	}
	en.clk.Advance(500 * time.Millisecond)
	bob.quiet()
	en.clk.Advance(500 * time.Millisecond)
	bob.req(sip.INVITE)
	bob.respond(i1, 180, "bt", "")
	alice.resp(180)
	en.clk.Advance(4 * time.Second)
	bob.quiet()

	// The caller's retransmitted INVITE gets the last answer again and
	// does not create a second call.
	alice.send(d.inviteMsg)
	alice.resp(180)
	bob.quiet()

	// 2xx to the caller is retransmitted until the ACK (timer G).
	bob.respond(i1, 200, "bt", bob.sdpBody(1, "", 0))
	ok := alice.resp(200)
	bob.req(sip.ACK)
	en.clk.Advance(500 * time.Millisecond)
	if again := alice.resp(200); again.CSeq().SeqNo != ok.CSeq().SeqNo {
		t.Fatal("retransmitted 200 differs")
	}
	alice.established(d, ok)
	alice.ack(d, d.cseq)
	en.waitAcked(d.callID)
	en.clk.Advance(4 * time.Second)
	alice.quiet()

	// A retransmitted 200 from the callee is ACKed again.
	bob.respond(i1, 200, "bt", bob.sdpBody(1, "", 0))
	bob.req(sip.ACK)

	alice.hangUp(d, bob)
	en.noLiveCalls()
}

func TestEarlyMediaRelayed(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d := alice.call("101", alice.sdpBody(1, "", 0, 8))
	inv := bob.req(sip.INVITE)
	bob.respond(inv, 183, "bt", bob.sdpBody(1, "", 8))
	early := alice.resp(183)
	if b := string(early.Body()); !strings.Contains(b, "PCMA/8000") || strings.Contains(b, itoa(bob.rtpPort())) {
		t.Fatalf("183 to the caller is not our anchored answer:\n%s", b)
	}
	aPort, bPort := sdpPeer(t, early.Body()), sdpPeer(t, inv.Body())
	// Ringback from the callee reaches the caller before the answer.
	bob.rtpTo(bPort, 8, 0x77, 10, 0xE5, alice, aPort)
	bob.respond(inv, 200, "bt", bob.sdpBody(1, "", 8))
	ok := alice.resp(200)
	if sdpPeer(t, ok.Body()) != aPort {
		t.Fatal("the 200 moved the caller's media")
	}
	alice.established(d, ok)
	alice.ack(d, d.cseq)
	bob.req(sip.ACK)
	alice.hangUp(d, bob)
	en.noLiveCalls()
	en.cdrs(2)
}

func TestCanCallSelfAndDeviceCallerID(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	// The device's own internal caller ID wins over its owner's.
	en.setField("device", en.devs["100"], "caller_id", map[string]any{"internal": map[string]any{"name": "Front Desk", "number": "1000"}})
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("100"), CanCallSelf: true}))
	desk, soft := en.phone("100"), en.phone("100")
	desk.register()
	soft.register()
	d := desk.call("100", desk.sdpBody(1, "", 0))
	// Both of the device's registrations ring, the calling one included
	// (can_call_self rings the device, not a contact).
	var invs []*sip.Request
	for _, p := range []*phone{desk, soft} {
		for {
			m := p.next()
			if r, ok := m.(*sip.Request); ok && r.Method == sip.INVITE {
				invs = append(invs, r)
				break
			}
		}
	}
	for _, inv := range invs {
		if inv.From().DisplayName != "Front Desk" || inv.From().Address.User != "1000" {
			t.Fatalf("caller id %q <%s>, want the device's", inv.From().DisplayName, inv.From().Address.User)
		}
	}
	soft.respond(invs[1], 486, "x", "")
	desk.respond(invs[0], 486, "y", "")
	soft.req(sip.ACK)
	var final *sip.Response
	for final == nil {
		switch m := desk.next().(type) {
		case *sip.Response:
			if m.StatusCode >= 200 {
				final = m
			}
		}
	}
	if final.StatusCode != 486 {
		t.Fatalf("caller got %d, want 486", final.StatusCode)
	}
	desk.ackFailure(d, final)
	en.noLiveCalls()
	en.cdrs(3)
}

// TestTCPPhones runs a call between two phones on TCP: nothing is
// retransmitted on a reliable flow, and requests reach the callee on its
// connection.
func TestTCPPhones(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, bob := en.tcpPhone("100"), en.tcpPhone("101")
	alice.register()
	bob.register()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.req(sip.INVITE)
	en.clk.Advance(2 * time.Second) // timer A would have fired twice on UDP
	bob.quiet()
	bd := bob.incoming(inv, "bt")
	bob.respond(inv, 200, "bt", bob.sdpBody(1, "", 0))
	ok := alice.resp(200)
	bob.req(sip.ACK)
	en.clk.Advance(2 * time.Second) // timer G would have fired on UDP
	alice.quiet()
	alice.established(d, ok)
	alice.ack(d, d.cseq)
	en.waitAcked(d.callID)
	bob.hangUp(bd, alice)
	en.noLiveCalls()
	en.cdrs(2)
}

package b2bua

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sdp"
)

// Offers in a 2xx, answers in the ACK (RFC 3261 §13.2.1, RFC 3264).
//
// A caller whose INVITE has no SDP (a late offer) gets its leg's ports at
// once, but no address: the callees are offered our own session (PCMU,
// PCMA, telephone-event on leg B), so the callee side is an ordinary early
// offer. The winning callee's answer fixes the codecs; the caller's 200
// then carries our offer (its address, those codecs plus telephone-event)
// and its ACK the answer. A re-INVITE without SDP, from either leg once
// the call is up, is answered the same way: 200 with our current session
// for that leg, the answer in the ACK, and nothing sent to the other leg.
// While such an answer is due the call holds one pendingOffer; it is in
// the checkpoint, taken from the first ACK of that INVITE only, and a
// re-INVITE meanwhile gets 491 (RFC 3261 §14.2).

// errNoAnswer reports an ACK that should have carried our offer's answer
// but has no body.
var errNoAnswer = errors.New("b2bua: ACK without the SDP answer to our offer")

// pendingOffer is an offer we sent in a 2xx whose answer is due in the ACK.
type pendingOffer struct {
	leg     *leg
	cseq    uint32      // CSeq of the INVITE we answered; its ACK has it too
	codecs  []sdp.Codec // what the offer carried, our payload numbers
	dir     sdp.Direction
	sdp     []byte
	initial bool // the answer to the caller's initial INVITE
}

// PendingOffer is a pendingOffer in the checkpoint: a node taking the call
// over knows an answer is due and what it answers.
type PendingOffer struct {
	CallID    string        `json:"call_id"`
	CSeq      uint32        `json:"cseq"`
	Codecs    []sdp.Codec   `json:"codecs"`
	Direction sdp.Direction `json:"direction"`
	SDP       string        `json:"sdp"`
	Initial   bool          `json:"initial,omitempty"`
}

func (p *pendingOffer) state() *PendingOffer {
	if p == nil {
		return nil
	}
	return &PendingOffer{CallID: p.leg.callID, CSeq: p.cseq, Codecs: p.codecs, Direction: p.dir,
		SDP: string(p.sdp), Initial: p.initial}
}

// lateCodecs is what a late-offer caller is offered in our 200: the
// callee's audio codecs (in its order, our numbers) and telephone-event.
func lateCodecs(negB *sdp.Negotiated) []sdp.Codec {
	var out []sdp.Codec
	for _, cd := range negB.RecvCodecs {
		if cd.IsAudio() {
			out = append(out, cd)
		}
	}
	for _, cd := range sdp.DefaultCodecs() {
		if cd.IsTelephoneEvent() {
			out = append(out, cd)
		}
	}
	return out
}

// offerSpec is the relay's view of a leg we made an offer to and have no
// answer from yet: no peer address (nothing is sent until the answer or
// a latched packet gives one) and our own payload numbers both ways.
func offerSpec(codecs []sdp.Codec, o sdp.Origin) media.LegSpec {
	return media.LegSpec{Send: codecs, Recv: codecs, Direction: sdp.SendRecv, Origin: o}
}

// offerCaller prepares the 200 for a late-offer caller after callee l
// answered with negB: our offer to the caller, and the relay started with
// the caller's side still unknown.
func (c *call) offerCaller(l *leg, negB *sdp.Negotiated, ans *sdp.Session) error {
	codecs := lateCodecs(negB)
	offer, err := sdp.Offer(c.localA(c.originA), codecs, sdp.SendRecv, negB.Ptime)
	if err != nil {
		return fmt.Errorf("building the offer to the caller: %w", err)
	}
	if err := c.startRelay(offerSpec(codecs, c.originA), media.SpecFromSDP(negB, c.originB)); err != nil {
		return err
	}
	l.neg, l.lastOffer, l.ownDir = negB, ans, true
	c.sdpA = offer
	c.pending = &pendingOffer{leg: c.a, cseq: c.inv.CSeq().SeqNo, codecs: codecs, dir: sdp.SendRecv,
		sdp: offer, initial: true}
	return nil
}

// startRelay creates the relay, or updates it when it runs already.
func (c *call) startRelay(specA, specB media.LegSpec) error {
	if c.relay != nil {
		c.relay.Update(media.LegA, specA)
		c.relay.Update(media.LegB, specB)
		return nil
	}
	relay, err := media.NewRelay(c.relayConfig(), media.Leg{Ports: c.portsA, Spec: specA}, media.Leg{Ports: c.portsB, Spec: specB})
	if err != nil {
		c.portsA, c.portsB = nil, nil
		return err
	}
	c.relay = relay
	return nil
}

// answerLateCaller answers a late-offer caller before any bridge (a
// module takes the call): 200 with our full offer, the answer due in the
// ACK; leg B stays idle until a bridge.
func (c *call) answerLateCaller() error {
	codecs := sdp.DefaultCodecs()
	offer, err := sdp.Offer(c.localA(c.originA), codecs, sdp.SendRecv, sdp.DefaultPtime)
	if err != nil {
		return fmt.Errorf("building the offer to the caller: %w", err)
	}
	if c.relay == nil {
		if err := c.startRelay(offerSpec(codecs, c.originA), media.LegSpec{}); err != nil {
			return err
		}
	}
	c.sdpA = offer
	c.pending = &pendingOffer{leg: c.a, cseq: c.inv.CSeq().SeqNo, codecs: codecs, dir: sdp.SendRecv,
		sdp: offer, initial: true}
	now := c.s.clk.Now()
	c.answered, c.answeredAt = true, now
	c.a.answered, c.a.answeredAt = true, now
	c.answerInvite(200, "", offer)
	c.publishLeg(c.a, "CHANNEL_ANSWER")
	c.saveState()
	return nil
}

// otherLeg is the leg bridged to x, nil when there is none.
func (c *call) otherLeg(x *leg) *leg {
	if x == c.a {
		return c.peer
	}
	return c.a
}

// offerDirection is what we offer x in a 2xx: what the other leg declared
// when that was its own choice (it holds x, so x stays held), else
// sendrecv: the other leg only mirrored a hold of x's, which x may lift.
func (c *call) offerDirection(x *leg) sdp.Direction {
	y := c.otherLeg(x)
	if y == nil || y.ended || y.neg == nil || !y.ownDir {
		return sdp.SendRecv
	}
	return y.neg.RemoteDirection
}

// reoffer builds our offer to x for an offerless re-INVITE: our current
// session for that leg (its m= lines, our address, the codecs in use,
// our numbers), its o= version bumped only when the body changes (RFC
// 3264 §8).
func (c *call) reoffer(x *leg) (body []byte, codecs []sdp.Codec, dir sdp.Direction, err error) {
	cur := c.currentSDP(x)
	layout, err := sdp.Parse(cur)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("reading our own SDP: %w", err)
	}
	idx := -1
	for i, m := range layout.Media {
		if m.Kind == "audio" && m.Port != 0 {
			idx = i
			break
		}
	}
	if idx < 0 || x.neg == nil {
		return nil, nil, 0, fmt.Errorf("b2bua: leg %s has no audio stream to re-offer", x.callID)
	}
	codecs = x.neg.RecvCodecs
	dir = c.offerDirection(x)
	n := &sdp.Negotiated{Index: idx, Codecs: codecs, RecvCodecs: codecs, Ptime: x.neg.Ptime, LocalDirection: dir}
	// sdp.Answer lays an audio stream out on the m= lines of a given
	// session; here that session is our own last SDP, so rejected streams
	// stay rejected and in place.
	body, err = sdp.Answer(c.local(x, *c.origin(x)), layout, n)
	if err != nil {
		return nil, nil, 0, err
	}
	if !bytes.Equal(body, cur) {
		*c.origin(x) = c.origin(x).Next()
		if body, err = sdp.Answer(c.local(x, *c.origin(x)), layout, n); err != nil {
			return nil, nil, 0, err
		}
		c.setSDP(x, body)
	}
	return body, codecs, dir, nil
}

// offerIn2xx answers x's offerless re-INVITE: 200 with our offer, the
// answer due in the ACK.
func (c *call) offerIn2xx(x *leg, req *sip.Request, respond responder) {
	body, codecs, dir, err := c.reoffer(x)
	if err != nil {
		c.log.Warn("cannot re-offer", "leg", x.callID, "err", err)
		respond(500, "", respOpts{})
		return
	}
	seq := req.CSeq().SeqNo
	msg := respond(200, "", respOpts{contact: x.contact, sdp: body})
	p := &pendingOffer{leg: x, cseq: seq, codecs: codecs, dir: dir, sdp: body}
	c.pending = p
	x.retransmitFinal(msg, seq, func() {
		// No ACK, so no answer: the media stays as it was.
		if c.pending == p {
			c.pending = nil
			c.saveState()
		}
	})
	c.saveState()
}

// ackFrom takes the answer to our pending offer from the first ACK of
// that INVITE; other ACKs (retransmissions, ACKs of offerless 2xx or of
// failures) carry nothing for us.
func (c *call) ackFrom(l *leg, ack *sip.Request) {
	p := c.pending
	if p == nil || p.leg != l || ack.CSeq().SeqNo != p.cseq {
		return
	}
	c.pending = nil
	if err := c.takeAnswer(p, ack.Body()); err != nil {
		c.answerFailed(p, err)
		return
	}
	c.saveState()
}

// takeAnswer applies the answer to p: the leg's negotiation, and the
// relay pointed at the address it gave (hold and resume included).
func (c *call) takeAnswer(p *pendingOffer, body []byte) error {
	if len(body) == 0 {
		return errNoAnswer
	}
	ans, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	neg, err := sdp.NegotiateAnswer(p.codecs, p.dir, ans)
	if err != nil {
		return err
	}
	if c.relay == nil {
		return errMediaGone
	}
	x := p.leg
	x.neg, x.lastOffer, x.ownDir = neg, ans, p.dir == sdp.SendRecv
	if x == c.a {
		c.negA = neg
	}
	c.relay.Update(c.legID(x), media.SpecFromSDP(neg, *c.origin(x)))
	return nil
}

// answerFailed ends a call whose offer in a 2xx got no usable answer: an
// RFC 3261 §13.2.2.4 caller would have answered and sent BYE itself; we
// do it for it, on both legs, as a media negotiation failure.
func (c *call) answerFailed(p *pendingOffer, err error) {
	c.log.Info("no usable SDP answer in the ACK, ending the call", "leg", p.leg.callID, "err", err)
	const cause, code = "INCOMPATIBLE_DESTINATION", 488
	reason := fmt.Sprintf(`Reason: SIP;cause=%d;text="Incompatible SDP answer in ACK"`, code)
	for _, l := range []*leg{c.a, c.peer} {
		if l == nil || l.ended {
			continue
		}
		c.bye(l, cause, reason)
		l.hangupCode = "sip:" + strconv.Itoa(code)
	}
	c.cancelForks(nil)
	c.endBridge()
}

package b2bua

import (
	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sdp"
)

// reinvite is a re-INVITE from one leg being carried to the other.
type reinvite struct {
	from, to *leg
}

// responder answers one in-dialog request and returns the message sent.
type responder func(code int, reason string, o respOpts) []byte

func (c *call) legID(l *leg) media.LegID {
	if l == c.a {
		return media.LegA
	}
	return media.LegB
}

func (c *call) origin(l *leg) *sdp.Origin {
	if l == c.a {
		return &c.originA
	}
	return &c.originB
}

func (c *call) local(l *leg, o sdp.Origin) sdp.Local {
	if l == c.a {
		return c.localA(o)
	}
	return c.localB(o)
}

func (c *call) currentSDP(l *leg) []byte {
	if l == c.a {
		return c.sdpA
	}
	return c.sdpB
}

func (c *call) setSDP(l *leg, b []byte) {
	if l == c.a {
		c.sdpA = b
	} else {
		c.sdpB = b
	}
}

func audioNames(n *sdp.Negotiated) []string {
	var out []string
	if n == nil {
		return nil
	}
	for _, cd := range n.Codecs {
		if cd.IsAudio() {
			out = append(out, cd.Name)
		}
	}
	return out
}

// reinviteFrom handles a re-INVITE (hold, resume, media change) from leg
// x: the offer is carried to the other leg with our address, and the
// other leg's answer comes back to x rewritten, with the relay updated on
// both sides (RFC 3264 §8).
func (c *call) reinviteFrom(x *leg, in inbound, respond responder) {
	req := in.req
	seq := req.CSeq().SeqNo
	ok200 := func(body []byte) {
		msg := respond(200, "", respOpts{contact: x.contact, sdp: body})
		x.retransmitFinal(msg, seq, nil)
	}
	if !c.answered || x.ended || c.relay == nil {
		respond(491, "", respOpts{extra: []string{"Retry-After: 2"}})
		return
	}
	if c.reinv != nil || c.pending != nil {
		// An offer of ours is outstanding (RFC 3261 §14.2).
		respond(491, "", respOpts{})
		return
	}
	if len(req.Body()) == 0 {
		// An offerless re-INVITE (a session refresh, or asking for our
		// offer): our offer in the 200, the answer in the ACK.
		c.offerIn2xx(x, req, respond)
		return
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		respond(sdp.StatusCode(err), "", respOpts{})
		return
	}
	if x.lastOffer != nil && !offer.Origin.Changed(x.lastOffer.Origin) {
		ok200(c.currentSDP(x)) // session refresh (RFC 3264 §8)
		return
	}
	negX, err := sdp.Negotiate(offer, sdp.Options{Allow: audioNames(x.neg)})
	if err != nil {
		respond(sdp.StatusCode(err), "", respOpts{extra: []string{`Warning: 305 strowger "Incompatible media format"`}})
		return
	}
	y := c.peer
	if x != c.a {
		y = c.a
	}
	if y == nil || y.ended || y.neg == nil {
		// Answered with no callee (a module owns the media): answer here.
		*c.origin(x) = c.origin(x).Next()
		ans, err := sdp.Answer(c.local(x, *c.origin(x)), offer, negX)
		if err != nil {
			respond(500, "", respOpts{})
			return
		}
		x.neg, x.lastOffer, x.ownDir = negX, offer, true
		c.setSDP(x, ans)
		c.relay.Update(c.legID(x), media.SpecFromSDP(negX, *c.origin(x)))
		ok200(ans)
		c.saveState()
		return
	}
	dir := negX.RemoteDirection
	codecs := y.neg.RecvCodecs
	*c.origin(y) = c.origin(y).Next()
	oy := *c.origin(y)
	body, err := sdp.Offer(c.local(y, oy), codecs, dir, negX.Ptime)
	if err != nil {
		respond(500, "", respOpts{})
		return
	}
	c.reinv = &reinvite{from: x, to: y}
	o := y.newRequest("INVITE", body)
	tx := &clientTx{method: "INVITE", branch: o.branch, cseq: o.cseq, msg: buildRequest(o)}
	tx.onResponse = func(r *sip.Response) {
		if r.StatusCode < 200 {
			return
		}
		c.reinv = nil
		if r.StatusCode >= 300 {
			c.ackNon2xx(y, r)
			code := r.StatusCode
			if code == 487 || code == 408 {
				code = 500
			}
			respond(code, "", respOpts{})
			return
		}
		if t := contactURI(r); t != "" {
			y.target = t
		}
		c.ack2xx(y, r)
		ans, err := sdp.Parse(r.Body())
		var negY *sdp.Negotiated
		if err == nil {
			negY, err = sdp.NegotiateAnswer(codecs, dir, ans)
		}
		if err != nil {
			c.log.Info("re-INVITE answer not usable", "err", err)
			respond(488, "", respOpts{})
			return
		}
		negX2, err := sdp.Negotiate(offer, sdp.Options{Direction: negY.RemoteDirection, Allow: audioNames(negY)})
		if err != nil {
			respond(488, "", respOpts{})
			return
		}
		*c.origin(x) = c.origin(x).Next()
		ansX, err := sdp.Answer(c.local(x, *c.origin(x)), offer, negX2)
		if err != nil {
			respond(500, "", respOpts{})
			return
		}
		y.neg, y.lastOffer, y.ownDir = negY, ans, dir == sdp.SendRecv
		x.neg, x.lastOffer, x.ownDir = negX2, offer, true
		c.setSDP(y, body)
		c.setSDP(x, ansX)
		c.relay.Update(c.legID(x), media.SpecFromSDP(negX2, *c.origin(x)))
		c.relay.Update(c.legID(y), media.SpecFromSDP(negY, *c.origin(y)))
		ok200(ansX)
		c.saveState()
	}
	tx.onTimeout = func() {
		c.reinv = nil
		respond(500, "Peer did not answer", respOpts{})
	}
	y.send(tx)
}

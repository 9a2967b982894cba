package b2bua

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sdp"
	"github.com/strowger/strowger/internal/store"
)

// errMediaGone reports a call whose RTP sockets were released after a
// relay failed to start; it can bridge no more.
var errMediaGone = errors.New("b2bua: the call's media ports are gone")

// target is one endpoint resolved to its registered contacts.
type target struct {
	ep       callflow.Endpoint
	deviceID string
	ownerID  string
	username string
	realm    string
	name     string
	bindings []location.Binding
}

// bridge is one Bridge attempt, owned by the call goroutine.
type bridge struct {
	req      callflow.BridgeRequest
	targets  []target
	result   chan callflow.BridgeResult
	forks    []*leg
	next     int // single strategy: next target
	pass     int // repeats done
	pending  int // scheduled but not started forks
	timers   []clock.Timer
	overall  clock.Timer
	clid     callerID
	codes    []int
	timedOut bool
	answered bool
	done     bool
	failFast bool
}

type callerID struct{ name, number string }

// Bridge implements callflow.Call.
func (c *call) Bridge(ctx context.Context, req callflow.BridgeRequest) (callflow.BridgeResult, error) {
	targets, err := c.resolve(ctx, req)
	if err != nil {
		return callflow.BridgeResult{Outcome: callflow.Failed}, err
	}
	clid := c.callerIDFor(ctx, req.SuppressCLID)
	b := &bridge{req: req, targets: targets, result: make(chan callflow.BridgeResult, 1), clid: clid}
	if err := c.do(ctx, func(c *call) { c.startBridge(b) }); err != nil {
		return callflow.BridgeResult{Outcome: callflow.CallerGone}, err
	}
	select {
	case r := <-b.result:
		return r, nil
	case <-ctx.Done():
		c.post(func(c *call) { c.cancelForks(nil); c.finishBridge(callflow.BridgeResult{Outcome: callflow.CallerGone}) })
		return callflow.BridgeResult{Outcome: callflow.CallerGone}, ctx.Err()
	}
}

// do runs f on the call goroutine and waits until it ran.
func (c *call) do(ctx context.Context, f func(*call)) error {
	ran := make(chan struct{})
	g := func(c *call) { f(c); close(ran) }
	select {
	case c.events <- g:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return callflow.ErrHungUp
	}
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return callflow.ErrHungUp
	}
}

// resolve reads the endpoints' devices and registrations (on the callflow
// goroutine: store reads never block the call goroutine).
func (c *call) resolve(ctx context.Context, req callflow.BridgeRequest) ([]target, error) {
	acct, err := c.s.d.Docs.Get(ctx, c.caller.AccountID, store.TypeAccount, c.caller.AccountID)
	if err != nil {
		return nil, fmt.Errorf("reading account: %w", err)
	}
	realm, _ := acct.Body["realm"].(string)
	var out []target
	seen := map[string]bool{}
	for _, ep := range req.Endpoints {
		if seen[ep.DeviceID] {
			continue
		}
		seen[ep.DeviceID] = true
		if ep.DeviceID == c.caller.DeviceID && !req.CanCallSelf {
			continue
		}
		d, err := c.s.d.Docs.Get(ctx, c.caller.AccountID, store.TypeDevice, ep.DeviceID)
		if err != nil {
			if err == store.ErrNotFound {
				continue
			}
			return nil, fmt.Errorf("reading device %s: %w", ep.DeviceID, err)
		}
		// Re-checked here: the device may have changed since the callflow
		// resolved it.
		if d.Body["enabled"] == false || callflow.DoNotDisturb(d.Body) {
			continue
		}
		sipCfg, _ := d.Body["sip"].(map[string]any)
		user, _ := sipCfg["username"].(string)
		if user == "" {
			continue
		}
		bs, err := c.s.d.Location.Reachable(ctx, c.caller.AccountID, user)
		if err != nil {
			return nil, fmt.Errorf("looking up %s: %w", user, err)
		}
		owner, _ := d.Body["owner_id"].(string)
		name, _ := d.Body["name"].(string)
		out = append(out, target{ep: ep, deviceID: ep.DeviceID, ownerID: owner, username: user, realm: realm,
			name: name, bindings: bs})
	}
	return out, nil
}

// startBridge begins ringing on the call goroutine.
func (c *call) startBridge(b *bridge) {
	if c.a.ended || c.callerGone {
		b.result <- callflow.BridgeResult{Outcome: callflow.CallerGone}
		return
	}
	if c.br != nil {
		b.result <- callflow.BridgeResult{Outcome: callflow.Failed}
		return
	}
	c.br = b
	if b.req.Repeats < 1 {
		b.req.Repeats = 1
	}
	b.failFast = b.req.FailOnSingleReject
	c.startPass(b)
}

func (c *call) ringTimeout(ep callflow.Endpoint, b *bridge) time.Duration {
	if ep.Timeout > 0 {
		return ep.Timeout
	}
	if b.req.Timeout > 0 {
		return b.req.Timeout
	}
	return c.s.cfg.DefaultRingTimeout
}

// startPass starts one pass over the endpoints.
func (c *call) startPass(b *bridge) {
	b.pass++
	total := time.Duration(0)
	if b.req.Strategy == callflow.StrategySingle {
		b.next = 0
		for _, t := range b.targets {
			total += c.ringTimeout(t.ep, b)
		}
		c.startNextSingle(b)
	} else {
		for _, t := range b.targets {
			t := t
			if end := t.ep.Delay + c.ringTimeout(t.ep, b); end > total {
				total = end
			}
			if t.ep.Delay > 0 {
				b.pending++
				b.timers = append(b.timers, c.timer(t.ep.Delay, func(c *call) {
					if c.br != b || b.done {
						return
					}
					b.pending--
					c.ring(b, t)
					c.checkBridge(b)
				}))
				continue
			}
			c.ring(b, t)
		}
	}
	// The ringing forks' dialogs go into the checkpoint: a node taking a
	// ringing call over must know whom to cancel.
	c.saveState()
	if b.req.Timeout > 0 && b.req.Timeout < total {
		total = b.req.Timeout
	}
	if b.overall != nil {
		b.overall.Stop()
	}
	b.overall = c.timer(total, func(c *call) {
		if c.br != b || b.done || b.answered {
			return
		}
		b.timedOut = true
		b.pending = 0
		b.next = len(b.targets)
		for _, t := range b.timers {
			t.Stop()
		}
		// The group's time ran out: the members still ringing did not
		// answer (their CDRs say NO_ANSWER, as when their own timer fires).
		for _, l := range b.forks {
			if !l.ended && !l.answered {
				l.timedOut = true
			}
		}
		c.cancelForks(nil)
		c.checkBridge(b)
	})
	c.checkBridge(b)
}

// startNextSingle rings the next endpoint that has a contact.
func (c *call) startNextSingle(b *bridge) {
	for b.next < len(b.targets) {
		t := b.targets[b.next]
		b.next++
		if c.ring(b, t) > 0 {
			return
		}
	}
}

// ring forks to every contact of t; it returns how many forks started.
func (c *call) ring(b *bridge, t target) int {
	n := 0
	for _, bd := range t.bindings {
		if !bd.Live(c.s.clk.Now()) {
			continue
		}
		if err := c.fork(b, t, bd); err != nil {
			c.log.Warn("forking failed", "device", t.deviceID, "err", err)
			continue
		}
		n++
	}
	return n
}

// fork sends one outbound INVITE.
func (c *call) fork(b *bridge, t target, bd location.Binding) error {
	now := c.s.clk.Now()
	l := &leg{c: c, callID: newCallID(), localTag: newTag(), localSeq: 1, created: now,
		deviceID: t.deviceID, ownerID: t.ownerID, username: t.username, edge: bd.EdgeID,
		ctx: map[string]*clientTx{}, stx: map[string][]byte{}}
	if bd.SourceIP != "" {
		l.flow = flowOf(bd)
	}
	host := t.realm
	if host == "" {
		host = c.s.cfg.RTPIP.String()
	}
	num := userToken(b.clid.number)
	if num == "" {
		num = "anonymous"
	}
	l.localURI = quoteDisplay(b.clid.name) + " <sip:" + num + "@" + host + ">"
	l.remoteURI = "<sip:" + userToken(t.username) + "@" + host + ">"
	l.target = bd.Contact
	l.routes = append([]string(nil), bd.Path...)
	l.contact = c.s.contactFor(l.flow)
	l.callerName, l.callerNumber = b.clid.name, b.clid.number
	l.calleeName, l.calleeNumber = t.name, t.username
	l.fromAOR, l.toAOR = num+"@"+host, t.username+"@"+host
	if u := (sip.Uri{}); sip.ParseUri(bd.Contact, &u) == nil {
		l.request = uriUserHost(u)
	}
	if c.portsB == nil {
		return errMediaGone
	}
	codecs := c.offerCodecs()
	l.offered = codecs
	rtp, rtcp := c.portsB.RTPAddr(), c.portsB.RTCPAddr()
	ptime := sdp.DefaultPtime
	if c.negA != nil {
		ptime = c.negA.Ptime
	}
	offer, err := sdp.Offer(sdp.Local{Origin: c.originB, Addr: c.s.cfg.RTPIP, Port: int(rtp.Port()), RTCPPort: int(rtcp.Port())},
		codecs, sdp.SendRecv, ptime)
	if err != nil {
		return err
	}
	c.sdpB = offer
	o := reqOpts{method: "INVITE", ruri: l.target, via: c.s.viaHost(), branch: newBranch(), from: l.fromValue(),
		to: l.remoteURI, callID: l.callID, cseq: l.localSeq, routes: l.routes, contact: l.contact, sdp: offer}
	o.extra = customHeaders(b.req.CustomSIPHeaders)
	if b.req.SuppressCLID {
		o.extra = append(o.extra, "Privacy: id")
	}
	l.invite = o
	c.legs[l.callID] = l
	c.order = append(c.order, l)
	c.s.calls.Store(l.callID, c)
	b.forks = append(b.forks, l)
	// The callee may answer or hang up before anything else: its key must
	// exist before the INVITE leaves.
	if err := c.putLeg(l); err != nil {
		l.end("NORMAL_TEMPORARY_FAILURE", "sip:503")
		return err
	}
	c.publishLeg(l, "CHANNEL_CREATE")
	tx := &clientTx{method: "INVITE", branch: o.branch, cseq: o.cseq, msg: buildRequest(o)}
	tx.onResponse = func(r *sip.Response) { c.forkResponse(b, l, r) }
	tx.onTimeout = func() {
		l.finalCode = 408
		l.end("RECOVERY_ON_TIMER_EXPIRE", "sip:408")
		b.codes = append(b.codes, 408)
		c.forkDone(b, l)
	}
	l.inviteTx = tx
	l.ringTimer = c.timer(c.ringTimeout(t.ep, b), func(c *call) {
		if l.answered || l.ended {
			return
		}
		l.timedOut = true
		c.cancelLeg(l)
	})
	l.send(tx)
	return nil
}

// offerCodecs is what we offer callees: the caller's accepted formats, so
// both legs share codecs and nothing is transcoded.
// After Answer, negA holds the one codec the caller was answered with.
// A late-offer caller has told us nothing yet: callees get everything we
// relay, and the caller is offered what the callee picks.
func (c *call) offerCodecs() []sdp.Codec {
	if c.negA == nil {
		return sdp.DefaultCodecs()
	}
	return append([]sdp.Codec(nil), c.negA.Codecs...)
}

// reservedHeaders are never taken from callflow data: they define the
// transaction, the dialog or the body.
var reservedHeaders = map[string]bool{"via": true, "from": true, "to": true, "call-id": true, "cseq": true,
	"contact": true, "route": true, "record-route": true, "max-forwards": true, "content-length": true,
	"content-type": true, "v": true, "f": true, "t": true, "i": true, "m": true, "l": true, "c": true}

// customHeaders turns a callflow's custom_sip_headers into header lines,
// in a stable order, dropping reserved names and anything that could
// break out of its line (the API validates them too; this is the last
// line of defence on the wire).
func customHeaders(h map[string]string) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		v := h[k]
		if k == "" || reservedHeaders[strings.ToLower(k)] || strings.ContainsAny(k, ": \t\r\n") ||
			strings.ContainsAny(v, "\r\n\x00") || len(k)+len(v) > 512 {
			continue
		}
		out = append(out, k+": "+v)
	}
	return out
}

// forkResponse handles a callee's response to our INVITE.
func (c *call) forkResponse(b *bridge, l *leg, r *sip.Response) {
	if tag := tagOf(r.To().Params); tag != "" && l.remoteTag == "" && r.StatusCode > 100 {
		l.remoteTag = tag
	}
	switch {
	case r.StatusCode < 200:
		if r.StatusCode == 100 {
			return
		}
		l.ringing = true
		if l.cancelWanted && !l.cancelSent {
			c.sendCancel(l)
			return
		}
		if c.br != b || b.answered || l.ended {
			return
		}
		c.earlyToCaller(l, r)
	case r.StatusCode < 300:
		c.forkAnswered(b, l, r)
	default:
		l.finalCode = r.StatusCode
		c.ackNon2xx(l, r)
		cause := causeOf(r.StatusCode)
		if l.cancelSent {
			cause = "ORIGINATOR_CANCEL"
			if l.timedOut {
				cause = "NO_ANSWER"
			}
			if l.lost {
				cause = "LOSE_RACE"
			}
		}
		l.end(cause, "sip:"+strconv.Itoa(r.StatusCode))
		if !l.cancelSent {
			b.codes = append(b.codes, r.StatusCode)
			if b.failFast && c.br == b && !b.answered {
				c.cancelForks(nil)
				b.pending = 0
				b.next = len(b.targets)
			}
		}
		c.forkDone(b, l)
	}
}

// earlyToCaller relays 180/183 to the caller, with our SDP when the
// callee sent early media. A late-offer caller gets no SDP: we have no
// answer from it, and an offer may not go in an unreliable provisional
// (RFC 3261 §13.2.1), so its early media waits for the answer.
func (c *call) earlyToCaller(l *leg, r *sip.Response) {
	if c.invFinal != 0 || c.answered {
		return
	}
	if c.late {
		code := 180
		if r.StatusCode == 183 {
			code = 183
		}
		c.answerInvite(code, "", nil)
		return
	}
	if len(r.Body()) > 0 {
		if err := c.applyCalleeAnswer(l, r.Body()); err == nil {
			c.answerInvite(183, "", c.sdpA)
			return
		}
	}
	c.answerInvite(180, "", nil)
}

// applyCalleeAnswer reads a callee's SDP answer, answers the caller's
// offer with the same codecs and points the relay at both.
func (c *call) applyCalleeAnswer(l *leg, body []byte) error {
	if c.portsA == nil || c.portsB == nil {
		return errMediaGone
	}
	ans, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	negB, err := sdp.NegotiateAnswer(l.offered, sdp.SendRecv, ans)
	if err != nil {
		return err
	}
	if c.late && !c.answered {
		return c.offerCaller(l, negB, ans)
	}
	l.neg, l.lastOffer, l.ownDir = negB, ans, true
	if c.negA == nil {
		// Answered late-offer caller whose ACK is still due: its side of
		// the relay waits for that answer.
		if c.relay == nil {
			return errMediaGone
		}
		c.relay.Update(media.LegB, media.SpecFromSDP(negB, c.originB))
		return nil
	}
	if !c.answered || c.sdpA == nil {
		var allow []string
		for _, cd := range negB.Codecs {
			if cd.IsAudio() {
				allow = append(allow, cd.Name)
			}
		}
		negA, err := sdp.Negotiate(c.offerA, sdp.Options{Allow: allow})
		if err != nil {
			return err
		}
		answer, err := sdp.Answer(c.localA(c.originA), c.offerA, negA)
		if err != nil {
			return err
		}
		c.negA, c.a.neg, c.sdpA = negA, negA, answer
	}
	specA := media.SpecFromSDP(c.negA, c.originA)
	specB := media.SpecFromSDP(negB, c.originB)
	if c.relay == nil {
		relay, err := media.NewRelay(c.relayConfig(), media.Leg{Ports: c.portsA, Spec: specA}, media.Leg{Ports: c.portsB, Spec: specB})
		if err != nil {
			c.portsA, c.portsB = nil, nil
			return err
		}
		c.relay = relay
	} else {
		c.relay.Update(media.LegA, specA)
		c.relay.Update(media.LegB, specB)
	}
	return nil
}

func (c *call) localA(o sdp.Origin) sdp.Local {
	rtp, rtcp := c.portsA.RTPAddr(), c.portsA.RTCPAddr()
	return sdp.Local{Origin: o, Addr: c.s.cfg.RTPIP, Port: int(rtp.Port()), RTCPPort: int(rtcp.Port())}
}

func (c *call) localB(o sdp.Origin) sdp.Local {
	rtp, rtcp := c.portsB.RTPAddr(), c.portsB.RTCPAddr()
	return sdp.Local{Origin: o, Addr: c.s.cfg.RTPIP, Port: int(rtp.Port()), RTCPPort: int(rtcp.Port())}
}

func (c *call) relayConfig() media.Config {
	return media.Config{Clock: c.s.clk, Logger: c.log.With("component", "relay"), Timeout: c.s.cfg.RTPTimeout,
		Engine: c.s.cfg.RTPEngine,
		OnTimeout: func(id media.LegID) {
			c.post(func(c *call) { c.rtpTimeout(id) })
		}}
}

// rtpTimeout ends a bridged call whose media died.
func (c *call) rtpTimeout(id media.LegID) {
	if id == media.LegB && c.peer == nil {
		return // answered without a callee: leg B carries nothing
	}
	if c.a.ended || !c.answered {
		// Early media: callers often send nothing before the answer, and
		// ringing has its own timeouts.
		return
	}
	c.log.Info("RTP timeout, ending the call", "leg", id.String())
	c.hangupAll("MEDIA_TIMEOUT")
	c.a.hangupCause = "MEDIA_TIMEOUT"
	if c.peer != nil {
		c.peer.hangupCause = "MEDIA_TIMEOUT"
	}
}

// forkAnswered handles a 2xx from a callee.
func (c *call) forkAnswered(b *bridge, l *leg, r *sip.Response) {
	l.remoteTag = tagOf(r.To().Params)
	l.target = contactURI(r)
	rr := headerValues(r, "Record-Route")
	l.routes = make([]string, 0, len(rr))
	for i := len(rr) - 1; i >= 0; i-- {
		l.routes = append(l.routes, rr[i])
	}
	if l.target == "" {
		l.target = l.invite.ruri
	}
	if c.br != b || b.answered || l.ended || c.a.ended || c.callerGone {
		// Late 2xx (another fork won, or the caller left): end it.
		c.ack2xx(l, r)
		l.lost = true
		l.answered = true
		l.answeredAt = c.s.clk.Now()
		c.bye(l, "LOSE_RACE")
		c.forkDone(b, l)
		return
	}
	// Media first, then the ACK: once the callee has its ACK it may talk,
	// and the relay must already point at it.
	err := c.applyCalleeAnswer(l, r.Body())
	c.ack2xx(l, r)
	if err != nil {
		c.log.Info("callee answer not usable", "err", err)
		l.answered = true
		l.answeredAt = c.s.clk.Now()
		c.bye(l, "INCOMPATIBLE_DESTINATION")
		l.hangupCode = "sip:488"
		b.codes = append(b.codes, 488)
		c.forkDone(b, l)
		return
	}
	now := c.s.clk.Now()
	l.answered, l.answeredAt = true, now
	if l.ringTimer != nil {
		l.ringTimer.Stop()
	}
	b.answered = true
	b.pending = 0
	for _, t := range b.timers {
		t.Stop()
	}
	if b.overall != nil {
		b.overall.Stop()
	}
	c.cancelForks(l)
	c.peer = l
	if !c.answered {
		c.answered, c.answeredAt = true, now
		c.a.answered, c.a.answeredAt = true, now
		c.answerInvite(200, "", c.sdpA)
		c.publishLeg(c.a, "CHANNEL_ANSWER")
	} else {
		// The caller was answered before (Answer): leg B moved.
		c.reofferCaller()
	}
	c.publishLeg(l, "CHANNEL_ANSWER")
	c.publishLeg(c.a, "CHANNEL_BRIDGE")
	c.saveState()
}

// reofferCaller is a hook for a caller answered before the bridge: its
// SDP already points at our leg A, so nothing changes on its side.
func (c *call) reofferCaller() {}

// ack2xx ACKs a 2xx (a new transaction, RFC 3261 §13.2.2.4).
func (c *call) ack2xx(l *leg, r *sip.Response) {
	o := l.newRequest("ACK", nil)
	o.cseq = r.CSeq().SeqNo
	o.contact = ""
	c.sendRequest(l, buildRequest(o))
}

// ackNon2xx ACKs a failure within the INVITE transaction (§17.1.1.3).
func (c *call) ackNon2xx(l *leg, r *sip.Response) {
	o := l.invite
	o.method = "ACK"
	o.to = r.To().Value()
	o.contact = ""
	o.sdp = nil
	o.extra = nil
	if r.CSeq().SeqNo != o.cseq {
		// A failure to a re-INVITE: the ACK belongs to that transaction.
		o = l.newRequest("ACK", nil)
		o.cseq = r.CSeq().SeqNo
		o.branch = topBranch(r)
		o.contact = ""
	}
	c.sendRequest(l, buildRequest(o))
}

// cancelForks cancels every unanswered fork except keep.
func (c *call) cancelForks(keep *leg) {
	for _, l := range c.order {
		if l == keep || l.answered || l.ended {
			continue
		}
		if keep != nil {
			l.lost = true
		}
		c.cancelLeg(l)
	}
}

// cancelLeg cancels a ringing fork (§9.1: only after a provisional).
func (c *call) cancelLeg(l *leg) {
	if l.cancelWanted {
		return
	}
	l.cancelWanted = true
	if l.ringTimer != nil {
		l.ringTimer.Stop()
	}
	if l.ringing {
		c.sendCancel(l)
	}
}

func (c *call) sendCancel(l *leg) {
	l.cancelSent = true
	o := l.invite
	o.method = "CANCEL"
	o.contact = ""
	o.sdp = nil
	o.extra = nil
	msg := buildRequest(o)
	// CANCEL is its own non-INVITE transaction with the INVITE's branch:
	// retransmitted on UDP (timer E) until its answer (or the INVITE's
	// final answer) arrives.
	c.sendRequest(l, msg)
	if l.udp() {
		var again func(c *call)
		interval := c.s.cfg.T1
		again = func(c *call) {
			if l.ended || l.cancelAnswered || c.finished {
				return
			}
			c.sendRequest(l, msg)
			interval = min(2*interval, t2)
			c.timer(interval, again)
		}
		c.timer(interval, again)
	}
	// If the callee never answers the INVITE after our CANCEL, give up
	// after timer B: the fork is over either way.
	c.timer(64*c.s.cfg.T1, func(c *call) {
		if !l.ended {
			l.end("ORIGINATOR_CANCEL", "sip:487")
			c.forkDone(c.br, l)
		}
	})
}

// forkDone re-evaluates the bridge after a fork ended.
func (c *call) forkDone(b *bridge, l *leg) {
	if b == nil || c.br != b {
		return
	}
	if b.req.Strategy == callflow.StrategySingle && !b.answered && !b.timedOut {
		active := false
		for _, f := range b.forks {
			if !f.ended {
				active = true
			}
		}
		if !active {
			c.startNextSingle(b)
		}
	}
	c.checkBridge(b)
}

// checkBridge completes an unanswered attempt once nothing rings any more.
func (c *call) checkBridge(b *bridge) {
	if b.done || b.answered || c.br != b {
		return
	}
	if b.pending > 0 {
		return
	}
	if b.req.Strategy == callflow.StrategySingle && b.next < len(b.targets) && !b.timedOut {
		return
	}
	for _, f := range b.forks {
		if !f.ended {
			return
		}
	}
	res := outcome(b)
	if res.Outcome == callflow.NoAnswer && b.pass < b.req.Repeats && !c.callerGone {
		b.timedOut = false
		b.forks = nil
		c.startPass(b)
		return
	}
	c.finishBridge(res)
}

// outcome sums up an unanswered attempt.
func outcome(b *bridge) callflow.BridgeResult {
	if len(b.forks) == 0 {
		return callflow.BridgeResult{Outcome: callflow.Unavailable}
	}
	code := bestCode(b.codes)
	if len(b.codes) == 0 || b.timedOut && code == 0 {
		return callflow.BridgeResult{Outcome: callflow.NoAnswer}
	}
	busy := true
	for _, x := range b.codes {
		if x != 486 && x != 600 && x != 603 {
			busy = false
		}
	}
	if busy {
		return callflow.BridgeResult{Outcome: callflow.Busy, Code: code}
	}
	for _, f := range b.forks {
		if f.timedOut {
			return callflow.BridgeResult{Outcome: callflow.NoAnswer, Code: code}
		}
	}
	return callflow.BridgeResult{Outcome: callflow.Failed, Code: code}
}

// bestCode picks the response to report (RFC 3261 §16.7): a 6xx, else
// the lowest class.
func bestCode(codes []int) int {
	best := 0
	for _, x := range codes {
		if x >= 600 {
			return x
		}
		if best == 0 || x/100 < best/100 {
			best = x
		}
	}
	return best
}

// finishBridge hands the result to the waiting Bridge call.
func (c *call) finishBridge(res callflow.BridgeResult) {
	b := c.br
	if b == nil || b.done {
		return
	}
	if c.callerGone && res.Outcome != callflow.Answered {
		res = callflow.BridgeResult{Outcome: callflow.CallerGone, Code: res.Code}
	}
	b.done = true
	for _, t := range b.timers {
		t.Stop()
	}
	if b.overall != nil {
		b.overall.Stop()
	}
	c.br = nil
	c.lastResult = res
	b.result <- res
}

// endBridge completes a bridge because the call (or the bridged callee)
// ended.
func (c *call) endBridge() {
	b := c.br
	if b == nil {
		return
	}
	if b.answered {
		c.finishBridge(callflow.BridgeResult{Outcome: callflow.Answered, Code: 200})
		return
	}
	if c.callerGone || c.a.ended {
		c.finishBridge(callflow.BridgeResult{Outcome: callflow.CallerGone})
	}
}

// flowOf is the phone-side path of a binding.
func flowOf(bd location.Binding) *sipbusFlow {
	return &sipbusFlow{Transport: strings.ToLower(bd.SourceTransport),
		Remote: joinHostPort(bd.SourceIP, bd.SourcePort), Local: joinHostPort(bd.ProxyIP, bd.ProxyPort)}
}

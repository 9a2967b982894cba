package b2bua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sdp"
	"github.com/strowger/strowger/internal/sipbus"
)

// ErrNoRoute is what a Router returns when nothing in the account matches
// the dialed number; the caller gets 404.
var ErrNoRoute = errors.New("b2bua: no callflow matches the dialed number")

// eventQueue is the depth of a call's event channel; a timer or message
// that finds it full is handed over by a short-lived goroutine instead of
// being dropped.
const eventQueue = 128

// leg is one SIP dialog of a call: the caller's (inbound, we are the UAS)
// or a callee's (outbound, we are the UAC). Owned by the call goroutine.
type leg struct {
	c       *call
	inbound bool
	callID  string

	localTag, remoteTag string
	localURI, remoteURI string // From/To values without tags
	localSeq, remoteSeq uint32
	routes              []string // route set, in the order we send it
	target              string   // remote target (Contact)
	contact             string   // our Contact
	edge                string
	flow                *sipbus.Flow

	// outbound legs
	deviceID, ownerID, username string
	invite                      reqOpts // the initial INVITE, for ACK/CANCEL
	inviteTx                    *clientTx
	ringing, answered, ended    bool
	cancelWanted, cancelSent    bool
	cancelAnswered              bool
	timedOut, lost              bool // rang out / lost the race to another fork
	finalCode                   int
	ringTimer                   clock.Timer
	offered                     []sdp.Codec
	neg                         *sdp.Negotiated // last negotiation with this leg
	lastOffer                   *sdp.Session    // last SDP it sent us
	// ownDir: the direction in neg was the leg's free choice (it offered,
	// or answered a sendrecv offer), not a mirror of the other leg's hold.
	ownDir bool

	ctx   map[string]*clientTx // client transactions by branch
	stx   map[string][]byte    // in-dialog server transactions: branch → answer
	final *finalRetrans

	created, answeredAt, endedAt time.Time
	hangupCause, hangupCode      string
	callerName, callerNumber     string
	calleeName, calleeNumber     string
	fromAOR, toAOR, request      string
}

func (l *leg) udp() bool { return l.flow == nil || !strings.EqualFold(l.flow.Transport, "tcp") }

func (l *leg) sendResp(msg []byte) {
	l.c.sendResponse(sipbus.Envelope{Edge: l.edge, Flow: l.flow}, l, msg)
}

// fromValue and toValue are our From and To for requests in this dialog.
func (l *leg) fromValue() string { return l.localURI + ";tag=" + l.localTag }
func (l *leg) toValue() string {
	if l.remoteTag == "" {
		return l.remoteURI
	}
	return l.remoteURI + ";tag=" + l.remoteTag
}

// request builds an in-dialog request (RFC 3261 §12.2.1.1).
func (l *leg) newRequest(method string, body []byte) reqOpts {
	if method != "ACK" {
		l.localSeq++
	}
	return reqOpts{method: method, ruri: l.target, via: l.c.s.viaHost(), branch: newBranch(),
		from: l.fromValue(), to: l.toValue(), callID: l.callID, cseq: l.localSeq, routes: l.routes,
		contact: l.contact, sdp: body}
}

// end marks the leg over for the CDR.
func (l *leg) end(cause, code string) {
	if l.ended {
		return
	}
	l.ended = true
	l.endedAt = l.c.s.clk.Now()
	l.hangupCause, l.hangupCode = cause, code
	if l.ringTimer != nil {
		l.ringTimer.Stop()
	}
	l.final.stop()
	if !l.inbound {
		l.c.publishLeg(l, "CHANNEL_DESTROY")
	}
}

// call is one call: the caller leg, the callee legs it forked to, the
// media relay and the callflow goroutine. Everything but the immutable
// fields is owned by the call goroutine (run); the callflow goroutine
// reaches it only through post.
type call struct {
	s      *Server
	id     string
	log    *slog.Logger
	events chan func(*call)
	// outbox holds the SIP messages a handler sent; run publishes them
	// once the handler returns, so every timer the handler armed already
	// runs before any phone can see (and answer) what it sent.
	outbox []outMsg
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	// immutable after newCall
	caller   callflow.Caller
	dialed   string
	interact string

	// set by the router before routing (SetCaptures)
	captures []string

	// owned by the call goroutine
	a          *leg
	inv        *sip.Request
	invEnv     sipbus.Envelope
	invAnswer  []byte // last response sent to the caller's INVITE
	invFinal   int
	offerA     *sdp.Session
	negA       *sdp.Negotiated
	originA    sdp.Origin
	originB    sdp.Origin
	sdpA       []byte // our current SDP towards the caller
	sdpB       []byte // our current SDP towards the callee
	portsA     *media.PortPair
	portsB     *media.PortPair
	relay      *media.Relay
	legs       map[string]*leg // callee legs by Call-ID
	order      []*leg          // callee legs in creation order (CDRs)
	br         *bridge
	peer       *leg // the answered callee
	answered   bool
	callerGone bool
	flowDone   bool
	finished   bool
	keyA       bool // the caller's key is written
	position   []string
	lastResult callflow.BridgeResult
	reinv      *reinvite
	late       bool          // the caller's INVITE had no SDP: we offer in our 200
	pending    *pendingOffer // an offer of ours in a 2xx, its answer due in the ACK
	inSetup    bool          // counted in Server.setup (see overload.go)
	created    time.Time
	answeredAt time.Time
}

// newCall accepts a new INVITE: the call is registered at once (so a
// retransmission finds it) and set up on its own goroutine.
func (s *Server) newCall(in inbound) {
	if s.draining.Load() {
		s.respondStateless(in, 503, "", "Retry-After: 5")
		return
	}
	if in.env.Auth == nil || in.env.Auth.AccountID == "" {
		s.respondStateless(in, 403, "Not authenticated by the edge")
		return
	}
	callID := in.req.CallID().Value()
	ctx, cancel := context.WithCancel(s.ctx)
	au := in.env.Auth
	c := &call{
		s: s, id: callID, events: make(chan func(*call), eventQueue), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
		caller:   callflow.Caller{AccountID: au.AccountID, DeviceID: au.AuthorizingID, OwnerID: au.OwnerID},
		dialed:   in.req.Recipient.User,
		interact: randHex(8) + "-" + strconv.FormatInt(s.clk.Now().Unix(), 16),
		legs:     map[string]*leg{},
		inv:      in.req, invEnv: in.env, created: s.clk.Now(),
	}
	c.log = s.log.With("call_id", callID, "account", au.AccountID)
	overload := s.overloaded()
	if _, loaded := s.calls.LoadOrStore(callID, c); loaded {
		return
	}
	s.live.Add(1)
	s.callsWG.Add(1)
	go c.run()
	if overload != "" {
		// Refused on its own goroutine like any other early failure, so
		// it gets its CDR, timer G and a tombstone, but none of the
		// routing, media or KV work of a call in setup.
		c.post(func(c *call) { c.refuseOverload(overload) })
		return
	}
	c.inSetup = true
	s.setup.Add(1)
	c.post(func(c *call) { c.start() })
}

// post hands f to the call goroutine without blocking the caller for long.
func (c *call) post(f func(*call)) {
	select {
	case c.events <- f:
	default:
		go func() {
			select {
			case c.events <- f:
			case <-c.done:
			}
		}()
	}
}

// timer runs f on the call goroutine after d on the injected clock.
func (c *call) timer(d time.Duration, f func(*call)) clock.Timer {
	return c.s.clk.AfterFunc(d, func() { c.post(f) })
}

// run is the call goroutine: it runs handlers until the call is finished.
func (c *call) run() {
	defer c.s.callsWG.Done()
	defer close(c.done)
	for f := range c.events {
		f(c)
		if !c.finished {
			c.maybeFinish()
		}
		c.flush()
		if c.finished {
			return
		}
	}
}

// outMsg is one SIP message queued on a call's outbox.
type outMsg struct {
	subject string
	env     sipbus.Envelope
}

// sendRequest queues a request to l's phone (through l's edge).
func (c *call) sendRequest(l *leg, msg []byte) {
	subj := bus.EdgeSIP
	if l.edge != "" {
		subj = bus.EdgeNodeSIP(l.edge)
	}
	c.outbox = append(c.outbox, outMsg{subj, sipbus.Envelope{Kind: sipbus.KindRequest, Edge: l.edge,
		Node: c.s.cfg.NodeID, Flow: l.flow, CallID: l.callID, Epoch: c.epochFor(l), Msg: msg}})
}

// sendResponse queues a response to the request that arrived in req.
func (c *call) sendResponse(req sipbus.Envelope, l *leg, msg []byte) {
	c.outbox = append(c.outbox, outMsg{bus.EdgeNodeSIP(req.Edge), sipbus.Envelope{Kind: sipbus.KindResponse,
		Edge: req.Edge, Node: c.s.cfg.NodeID, Flow: req.Flow, CallID: l.callID, Epoch: c.epochFor(l), Msg: msg}})
}

// flush publishes the outbox in order.
func (c *call) flush() {
	for i, m := range c.outbox {
		c.s.publish(m.subject, m.env)
		c.outbox[i] = outMsg{}
	}
	c.outbox = c.outbox[:0]
}

// epochFor is the ownership epoch a leg's messages carry: 1 once its key
// is written.
func (c *call) epochFor(l *leg) uint64 {
	if l == nil || (l.inbound && !c.keyA) {
		return 0
	}
	return 1
}

// start negotiates the caller's offer, anchors media, records the call and
// starts the callflow.
// callerLeg builds the caller's leg from the INVITE.
func (c *call) callerLeg() {
	req := c.inv
	c.a = &leg{c: c, inbound: true, callID: c.id, localTag: newTag(), remoteTag: tagOf(req.From().Params),
		edge: c.invEnv.Edge, flow: c.invEnv.Flow, remoteSeq: req.CSeq().SeqNo, created: c.created,
		ctx: map[string]*clientTx{}, stx: map[string][]byte{}}
	c.a.localURI = stripTag(req.To().Value())
	c.a.remoteURI = stripTag(req.From().Value())
	c.a.target = contactURI(req)
	c.a.routes = headerValues(req, "Record-Route")
	c.a.contact = c.s.contactFor(c.invEnv.Flow)
	c.a.callerName = req.From().DisplayName
	c.a.callerNumber = req.From().Address.User
	c.a.calleeNumber = c.dialed
	c.a.fromAOR = uriUserHost(req.From().Address)
	c.a.toAOR = uriUserHost(req.To().Address)
	c.a.request = uriUserHost(req.Recipient)
}

func (c *call) start() {
	req := c.inv
	c.callerLeg()
	c.answerInvite(100, "", nil)
	if ext := unsupported(req); ext != "" {
		// RFC 3261 §8.2.2.3: we implement no extension a caller may require
		// (100rel, precondition...).
		c.rejectEarly(420, "", "Unsupported: "+ext)
		return
	}
	if c.a.target == "" {
		c.rejectEarly(400, "Missing Contact")
		return
	}
	var err error
	if len(req.Body()) == 0 {
		// A late offer: callees get our own offer, the caller our offer
		// in the 200 and its answer comes in the ACK (lateoffer.go).
		c.late = true
	} else {
		offer, err := sdp.Parse(req.Body())
		if err != nil {
			c.rejectEarly(sdp.StatusCode(err), "")
			c.log.Info("caller SDP refused", "err", err)
			return
		}
		neg, err := sdp.Negotiate(offer, sdp.Options{})
		if err != nil {
			c.rejectEarly(sdp.StatusCode(err), "", `Warning: 305 strowger "Incompatible media format"`)
			c.log.Info("caller SDP not acceptable", "err", err)
			return
		}
		c.offerA, c.negA, c.a.lastOffer, c.a.ownDir = offer, neg, offer, true
	}
	if c.portsA, err = c.s.d.Ports.Allocate(); err == nil {
		c.portsB, err = c.s.d.Ports.Allocate()
	}
	if err != nil {
		c.log.Warn("no RTP ports", "err", err)
		c.rejectEarly(503, "", "Retry-After: 5")
		return
	}
	c.originA = sdp.NewOrigin(c.s.cfg.RTPIP)
	c.originB = sdp.NewOrigin(c.s.cfg.RTPIP)
	if err := c.checkpoint(); err != nil {
		c.log.Error("writing call record failed", "err", err)
		c.rejectEarly(500, "", "Retry-After: 5")
		return
	}
	c.keyA = true
	c.publishLeg(c.a, "CHANNEL_CREATE")
	go c.runFlow()
}

// unsupported lists the option tags of Require we do not implement.
func unsupported(req *sip.Request) string {
	var out []string
	for _, v := range headerValues(req, "Require") {
		if tag := strings.ToLower(strings.TrimSpace(v)); tag != "" && tag != "timer" {
			out = append(out, tag)
		}
	}
	return strings.Join(out, ", ")
}

// rejectEarly ends a call that never reached the callflow.
func (c *call) rejectEarly(code int, reason string, extra ...string) {
	c.flowDone = true
	c.finalToCaller(code, reason, extra...)
}

// runFlow is the callflow goroutine.
func (c *call) runFlow() {
	err := c.s.d.Router.Route(c.ctx, c)
	c.post(func(c *call) {
		c.flowDone = true
		c.afterFlow(err)
	})
}

// afterFlow settles what the callflow left: an unanswered caller gets a
// final answer matching how the flow ended, an answered one a BYE.
func (c *call) afterFlow(err error) {
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, callflow.ErrHungUp) {
		var ended *callflow.FlowEnded
		if errors.As(err, &ended) {
			c.log.Debug("callflow ended", "reason", err)
		} else {
			c.log.Warn("callflow failed", "err", err)
		}
	}
	switch {
	case c.a.ended:
	case c.answered:
		cause := "NORMAL_CLEARING"
		var ended *callflow.FlowEnded
		if errors.As(err, &ended) && ended.LastBridge != nil && ended.LastBridge.Outcome != callflow.Answered {
			cause = ended.HangupCause()
		}
		c.hangupAll(cause)
	case c.invFinal == 0:
		var st interface{ SIPStatus() int }
		switch {
		case errors.As(err, &st):
			c.finalToCaller(st.SIPStatus(), "")
		case errors.Is(err, ErrNoRoute):
			c.finalToCaller(404, "")
		case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, callflow.ErrHungUp):
			c.finalToCaller(500, "")
		default:
			c.finalToCaller(failureCode(c.lastResult), "")
		}
	}
}

// failureCode is the answer to a caller whose callflow ended unanswered.
func failureCode(r callflow.BridgeResult) int {
	switch r.Outcome {
	case callflow.Busy:
		return 486
	case callflow.NoAnswer, callflow.Unavailable:
		return 480
	case callflow.Failed:
		if r.Code >= 400 {
			return r.Code
		}
		return 503
	}
	return 480
}

// maybeFinish ends the call once the callflow is done and every leg is over.
func (c *call) maybeFinish() {
	if !c.flowDone || c.a == nil || !c.a.ended || c.finished {
		return
	}
	if c.a.final != nil && !c.a.final.stopped {
		return // still waiting for the ACK of the final answer
	}
	for _, l := range c.order {
		if !l.ended {
			return
		}
	}
	c.finish()
}

// finish releases everything and writes the CDRs.
func (c *call) finish() {
	c.finished = true
	c.cancel()
	if c.relay != nil {
		_ = c.relay.Close()
	} else {
		if c.portsA != nil {
			_ = c.portsA.Close()
		}
		if c.portsB != nil {
			_ = c.portsB.Close()
		}
	}
	for _, l := range append([]*leg{c.a}, c.order...) {
		for _, tx := range l.ctx {
			tx.finish()
		}
		l.final.stop()
		if l.ringTimer != nil {
			l.ringTimer.Stop()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Every leg gets its CDR, also a caller refused before its key was
	// written (488, 503): failures are billed and audited too.
	c.writeCDRs(ctx)
	if c.keyA {
		c.s.deleteCall(ctx, c.id)
		for _, l := range c.order {
			c.s.deleteCall(ctx, l.callID)
		}
		c.publishLeg(c.a, "CHANNEL_DESTROY")
	}
	c.s.bury(c.id, c.invAnswer, c.a.stx)
	c.s.calls.Delete(c.id)
	for _, l := range c.order {
		c.s.calls.Delete(l.callID)
	}
	c.leaveSetup()
	c.s.live.Add(-1)
	c.log.Debug("call finished", "cause", c.a.hangupCause)
}

// answerInvite sends a response to the caller's INVITE; finals are
// retransmitted until the ACK.
func (c *call) answerInvite(code int, reason string, body []byte, extra ...string) {
	if c.invFinal != 0 {
		return
	}
	o := respOpts{toTag: c.a.localTag, sdp: body, extra: extra}
	if code > 100 && code < 300 {
		o.contact = c.a.contact
	}
	msg := buildResponse(c.inv, code, reason, o)
	if code >= 180 {
		c.leaveSetup()
	}
	c.invAnswer = msg
	c.a.sendResp(msg)
	if code < 200 {
		return
	}
	c.invFinal = code
	c.a.retransmitFinal(msg, c.inv.CSeq().SeqNo, func() {
		if code < 300 {
			// No ACK for our 2xx: the dialog is dead (§13.3.1.4).
			c.log.Info("no ACK for 200 OK, ending the call")
			c.hangupAll("NO_ANSWER")
		}
	})
}

// finalToCaller answers the unanswered caller with a failure and ends its leg.
func (c *call) finalToCaller(code int, reason string, extra ...string) {
	if c.invFinal != 0 {
		return
	}
	// End the leg first: end stops retransmissions, and this answer must
	// be retransmitted until the caller ACKs it (timer G).
	c.a.end(causeOf(code), "sip:"+strconv.Itoa(code))
	c.answerInvite(code, reason, nil, extra...)
	c.cancelForks(nil)
	c.endBridge()
}

// onMessage dispatches a message for any of the call's legs.
func (c *call) onMessage(in inbound) {
	callID := in.env.CallID
	if m := msgOf(in); m != nil {
		callID = m.CallID().Value()
	}
	if c.a == nil {
		return
	}
	if callID == c.id {
		if in.req != nil {
			c.fromCaller(in)
		} else {
			c.responseOn(c.a, in)
		}
		return
	}
	l, ok := c.legs[callID]
	if !ok {
		return
	}
	if in.env.Edge != "" {
		l.edge = in.env.Edge
	}
	if in.env.Flow != nil {
		l.flow = in.env.Flow
	}
	if in.req != nil {
		c.inDialog(l, in)
	} else {
		c.responseOn(l, in)
	}
}

func msgOf(in inbound) sip.Message {
	if in.req != nil {
		return in.req
	}
	if in.resp != nil {
		return in.resp
	}
	return nil
}

// responseOn routes a response to the client transaction it answers.
func (c *call) responseOn(l *leg, in inbound) {
	r := in.resp
	if r.CSeq().MethodName == sip.CANCEL {
		l.cancelAnswered = true
		return
	}
	tx, ok := l.ctx[topBranch(r)]
	if !ok || tx.method != string(r.CSeq().MethodName) {
		// A retransmitted 2xx to an INVITE we already ACKed: ACK again.
		if r.CSeq().MethodName == sip.INVITE && r.StatusCode >= 200 && r.StatusCode < 300 {
			c.ack2xx(l, r)
		}
		return
	}
	tx.onResp(r)
}

// fromCaller handles a request on the caller's Call-ID.
func (c *call) fromCaller(in inbound) {
	req := in.req
	branch := topBranch(req)
	switch {
	case req.Method == sip.INVITE && !req.To().Params.Has("tag"):
		// Retransmission of the initial INVITE: same answer again.
		if c.invAnswer != nil {
			c.a.sendResp(c.invAnswer)
		}
	case req.Method == sip.CANCEL:
		c.a.sendResp(buildResponse(req, 200, "", respOpts{toTag: c.a.localTag}))
		if branch == topBranch(c.inv) && c.invFinal == 0 {
			c.callerGone = true
			c.finalToCaller(487, "")
			c.a.hangupCause = "ORIGINATOR_CANCEL"
		}
	case req.Method == sip.ACK:
		if c.a.final != nil && req.CSeq().SeqNo == c.a.final.cseq {
			c.a.final.stop()
		}
		c.ackFrom(c.a, req)
	default:
		c.inDialog(c.a, in)
	}
}

// inDialog handles a request inside an established (or early) dialog.
func (c *call) inDialog(l *leg, in inbound) {
	req := in.req
	branch := topBranch(req)
	if req.Method == sip.ACK {
		if l.final != nil && req.CSeq().SeqNo == l.final.cseq {
			l.final.stop()
		}
		c.ackFrom(l, req)
		return
	}
	if prev, ok := l.stx[branch]; ok {
		l.sendResp(prev) // retransmission
		return
	}
	respond := func(code int, reason string, o respOpts) []byte {
		if o.toTag == "" {
			o.toTag = l.localTag
		}
		msg := buildResponse(req, code, reason, o)
		if code >= 200 {
			l.stx[branch] = msg
		}
		c.sendResponse(in.env, l, msg)
		return msg
	}
	if req.Method == sip.CANCEL {
		respond(200, "", respOpts{})
		return
	}
	seq := req.CSeq().SeqNo
	if seq <= l.remoteSeq && l.remoteSeq != 0 {
		respond(500, "CSeq out of order", respOpts{})
		return
	}
	l.remoteSeq = seq
	switch req.Method {
	case sip.BYE:
		respond(200, "", respOpts{})
		c.byeFrom(l)
	case sip.INVITE:
		c.reinviteFrom(l, in, respond)
	case sip.OPTIONS, sip.INFO, sip.NOTIFY:
		respond(200, "", respOpts{})
	default:
		respond(501, "", respOpts{extra: []string{"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"}})
	}
}

// byeFrom ends the call because leg l hung up.
func (c *call) byeFrom(l *leg) {
	if l == c.a {
		if !c.answered {
			// BYE before our 2xx was ACKed still ends the call.
			c.callerGone = true
		}
		c.a.end("NORMAL_CLEARING", "sip:200")
		c.a.final.stop()
		if c.peer != nil {
			c.bye(c.peer, "NORMAL_CLEARING")
		}
		c.cancelForks(nil)
		c.endBridge()
		return
	}
	l.end("NORMAL_CLEARING", "sip:200")
	if l == c.peer {
		c.bye(c.a, "NORMAL_CLEARING")
		c.endBridge()
	}
}

// bye hangs up a leg with a BYE (no-op on an ended leg); extra are
// header lines for it (a Reason).
func (c *call) bye(l *leg, cause string, extra ...string) {
	if l.ended {
		return
	}
	l.end(cause, "sip:200")
	o := l.newRequest("BYE", nil)
	o.contact = ""
	o.extra = extra
	l.send(&clientTx{method: "BYE", branch: o.branch, cseq: o.cseq, msg: buildRequest(o)})
}

// hangupAll ends every leg of the call.
func (c *call) hangupAll(cause string) {
	if c.invFinal == 0 {
		c.finalToCaller(codeOf(cause), "")
	} else if !c.a.ended {
		c.bye(c.a, cause)
	}
	if c.peer != nil {
		c.bye(c.peer, cause)
	}
	c.cancelForks(nil)
	c.endBridge()
}

// shutdown ends the call because the node stops.
func (c *call) shutdown() {
	c.flowDone = true
	c.cancel()
	if c.a == nil {
		return
	}
	if c.invFinal == 0 {
		c.finalToCaller(503, "", "Retry-After: 5")
		// Do not wait for the ACK of a node that is going away.
		c.a.final.stop()
		return
	}
	c.hangupAll("NORMAL_CLEARING")
	c.a.final.stop()
	for _, l := range c.order {
		l.end(l.hangupCause, l.hangupCode)
	}
}

// causeOf maps a final SIP status to Kazoo's hangup cause.
func causeOf(code int) string {
	switch code {
	case 200:
		return "NORMAL_CLEARING"
	case 404, 484:
		return "UNALLOCATED_NUMBER"
	case 408, 480:
		return "NO_ANSWER"
	case 486, 600:
		return "USER_BUSY"
	case 487:
		return "ORIGINATOR_CANCEL"
	case 488:
		return "INCOMPATIBLE_DESTINATION"
	case 403, 603:
		return "CALL_REJECTED"
	case 420:
		return "BEARERCAPABILITY_NOTIMPL"
	case 503:
		return "NORMAL_TEMPORARY_FAILURE"
	}
	return "NORMAL_UNSPECIFIED"
}

// codeOf maps a hangup cause to the SIP status an unanswered caller gets.
func codeOf(cause string) int {
	switch cause {
	case "USER_BUSY":
		return 486
	case "CALL_REJECTED":
		return 603
	case "UNALLOCATED_NUMBER":
		return 404
	case "INCOMPATIBLE_DESTINATION":
		return 488
	case "NORMAL_TEMPORARY_FAILURE":
		return 503
	}
	return 480
}

func stripTag(v string) string {
	// Header values are "<uri>;params"; the tag is a header parameter.
	i := strings.LastIndex(v, ">")
	rest := v
	head := ""
	if i >= 0 {
		head, rest = v[:i+1], v[i+1:]
	}
	var keep []string
	for _, p := range strings.Split(rest, ";") {
		if p == "" || strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), "tag=") {
			continue
		}
		keep = append(keep, p)
	}
	if len(keep) == 0 {
		return head
	}
	return head + ";" + strings.Join(keep, ";")
}

// viaHost is the host of our Via: the node's RTP address stands for the
// node; responses come back over the bus, never to it.
func (s *Server) viaHost() string { return s.cfg.RTPIP.String() }

// contactFor is our Contact towards a phone: the edge socket it talks to,
// so in-dialog requests reach an edge even without the route set.
func (s *Server) contactFor(f *sipbus.Flow) string {
	host := s.cfg.RTPIP.String()
	tp := "udp"
	if f != nil {
		if f.Local != "" {
			host = f.Local
		}
		if f.Transport != "" {
			tp = strings.ToLower(f.Transport)
		}
	}
	return fmt.Sprintf("sip:strowger@%s;transport=%s", host, tp)
}

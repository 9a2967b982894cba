package edge

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/sipbus"
)

// Fail-over of new calls between media nodes.
//
// The edge keeps a small client-transaction record (pendingInvite) for every new
// INVITE it relays, so that a media node's refusal never reaches the phone
// while another node could take the call (RFC 3261 §16.7: a proxy does not
// forward a 503 it can still work around):
//
//   - A final 503 that carries Retry-After, from the node now trying the
//     call, before any ringing or early answer reached the phone, is a
//     refusal: media nodes send exactly that when they refuse a call before
//     routing it (overload, draining, no RTP ports). The edge ACKs it
//     itself (hop by hop) and relays the same INVITE, with the same
//     authentication, to a live node it has not tried. Only when every
//     live node refused does the last 503 reach the phone. A 503 without
//     Retry-After is a callflow's outcome (a callee failed) and is relayed.
//   - A node that answers nothing at all (not even 100 Trying) within
//     Config.NodeAnswerTimeout is given up: the edge CANCELs the INVITE
//     there (so a node that wakes up late ends its copy) and tries another;
//     with none left the phone gets 503 from the edge.
//   - Responses from a node the call has left are never relayed: finals
//     are ACKed (a late 2xx is ACKed and hung up with BYE).
//   - The phone's retransmissions go to the node now trying the call; its
//     CANCEL is answered 200 by the edge, which CANCELs the current node's
//     INVITE (whose 487 then reaches the phone) or, when no node has the
//     call (the current one is silent or refused it), answers 487 itself.
//
// In-dialog requests are never retried. Ownership stays with the media
// nodes: a refused attempt writes no call key, so the key names the node
// that took the call.

// defaultNodeAnswerTimeout is Config.NodeAnswerTimeout's default: a media
// node answers 100 Trying (or refuses) within milliseconds; two seconds of
// silence means it is stalled.
const defaultNodeAnswerTimeout = 2 * time.Second

// pendingInvite is one new INVITE on its way to a media node. Its fields are
// guarded by mu; the table's lock is never held while taking it.
type pendingInvite struct {
	mu    sync.Mutex
	key   string       // Call-ID|phone branch, as fwdCache
	txKey string       // the phone's server transaction (txCache)
	raw   *rawMsg      // the phone's INVITE, for the edge's own answers
	req   *sip.Request // the phone's INVITE as validated
	f     flow
	auth  *sipbus.Auth
	tried map[string]bool

	node, subject string       // the node trying the call now
	sent          *sip.Request // the INVITE as relayed (template for ACK and CANCEL)
	heard         bool         // the current node answered something
	committed     bool         // ringing, early media or a final reached the phone
	cancelled     bool         // the phone sent CANCEL
	final         bool         // the phone has its final answer
	byEdge        bool         // ... and the edge gave it
	timer         clock.Timer
	expires       time.Time
}

// invites is the table of INVITE client transactions by fwdCache key.
type invites struct {
	mu sync.Mutex
	m  map[string]*pendingInvite
}

func newInvites() *invites { return &invites{m: map[string]*pendingInvite{}} }

func (t *invites) get(key string) *pendingInvite {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key]
}

// add stores iv unless key is taken, and returns the one stored.
func (t *invites) add(iv *pendingInvite) (*pendingInvite, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[iv.key]; ok {
		return old, false
	}
	t.m[iv.key] = iv
	return iv, true
}

func (t *invites) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, iv := range t.m {
		iv.mu.Lock()
		gone := !now.Before(iv.expires)
		iv.mu.Unlock()
		if gone {
			delete(t.m, k)
		}
	}
}

func (t *invites) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// startInvite relays a new, authenticated INVITE to a chosen node and
// keeps its transaction record. A concurrent copy that lost the race is
// relayed like a retransmission.
func (e *Edge) startInvite(req *sip.Request, m *rawMsg, f flow, txKey, fkey string, node sipbus.Heartbeat, auth *sipbus.Auth) {
	now := e.clk.Now()
	iv := &pendingInvite{key: fkey, txKey: txKey, raw: m, req: req, f: f, auth: auth, tried: map[string]bool{},
		expires: now.Add(fwdLinger)}
	iv, fresh := e.invs.add(iv)
	if !fresh {
		e.retransmitted(iv)
		return
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	e.tryNode(iv, node)
}

// tryNode sends iv's INVITE to node; iv.mu held.
func (e *Edge) tryNode(iv *pendingInvite, node sipbus.Heartbeat) {
	subject := node.SIPSubject
	if subject == "" {
		subject = bus.MediaNodeSIP(node.ID)
	}
	iv.node, iv.subject, iv.heard = node.ID, subject, false
	iv.tried[node.ID] = true
	e.fwd.put(iv.key, node.ID, subject)
	iv.sent = e.relayToNode(iv.req, iv.f, node.ID, subject, iv.auth)
	if iv.timer != nil {
		iv.timer.Stop()
	}
	tried := node.ID
	iv.timer = e.clk.AfterFunc(e.cfg.NodeAnswerTimeout, func() { e.nodeSilent(iv, tried) })
}

// retransmitted relays a retransmission of iv's INVITE to the node trying
// the call (whose transaction layer absorbs it), with the authentication
// of the first copy, in order with the edge's own relays.
func (e *Edge) retransmitted(iv *pendingInvite) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.byEdge || iv.node == "" {
		return // the edge's own final is resent from the txCache
	}
	e.relayToNode(iv.req, iv.f, iv.node, iv.subject, iv.auth)
}

// cancelInvite handles the phone's CANCEL of iv: the edge answers it, and
// passes it on to the node that has the call. It returns the answer to
// the CANCEL.
func (e *Edge) cancelInvite(iv *pendingInvite) *response {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	ok := &response{code: 200, reason: "OK"}
	if iv.final || iv.cancelled {
		return ok
	}
	iv.cancelled = true
	// The phone gets the 200 before the CANCEL goes on (RFC 3261 §16.10),
	// so the node's 487 cannot overtake it. Once cancelled, the INVITE
	// stays on iv.node (no retry moves it).
	ok.after = func() {
		iv.mu.Lock()
		defer iv.mu.Unlock()
		e.hopRequest(iv, iv.node, iv.subject, sip.CANCEL, nil)
	}
	return ok
}

// nodeSilent runs when a node did not answer iv at all in time.
func (e *Edge) nodeSilent(iv *pendingInvite, node string) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.final || iv.heard || iv.node != node {
		return
	}
	e.log.Warn("media node did not answer a new call, trying another", "node", node,
		"call_id", iv.req.CallID().Value(), "after", e.cfg.NodeAnswerTimeout)
	// Should the node wake up, the CANCEL follows the INVITE on the same
	// subject and ends its copy of the call.
	if !iv.cancelled {
		e.hopRequest(iv, iv.node, iv.subject, sip.CANCEL, nil)
	}
	if iv.cancelled {
		e.finalFromEdge(iv, response{code: 487, reason: "Request Terminated"})
		return
	}
	next, ok := e.nodes.choose(iv.tried)
	if !ok {
		e.finalFromEdge(iv, response{code: 503, reason: "Service Unavailable", extra: []string{"Retry-After: 5"}})
		return
	}
	e.tryNode(iv, next)
}

// nodeResponse decides what becomes of a node's response to a relayed
// INVITE (edge Via already popped). It returns true when the response
// must not be relayed to the phone.
func (e *Edge) nodeResponse(resp *sip.Response, env sipbus.Envelope) bool {
	if resp.CSeq() == nil || resp.CSeq().MethodName != sip.INVITE || resp.CallID() == nil {
		return false
	}
	branch, _ := resp.Via().Params.Get("branch")
	iv := e.invs.get(resp.CallID().Value() + "|" + branch)
	if iv == nil {
		return false
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	code := resp.StatusCode
	if env.Node != iv.node || iv.byEdge {
		// From a node the call has left (or after the edge answered
		// itself): never to the phone, but end that node's transaction.
		e.abandonedFinal(iv, resp, env.Node)
		return true
	}
	iv.heard = true
	if iv.timer != nil {
		iv.timer.Stop()
	}
	switch {
	case code == 100:
		return false
	case code < 200:
		iv.committed = true
		return false
	case code == 503 && resp.GetHeader("Retry-After") != nil && !iv.committed:
		if iv.cancelled {
			e.hopAck(iv, resp, env.Node)
			e.finalFromEdge(iv, response{code: 487, reason: "Request Terminated"})
			return true
		}
		next, ok := e.nodes.choose(iv.tried)
		if !ok {
			// Every live node refused: the phone gets this 503 and ACKs it.
			iv.final, iv.committed = true, true
			iv.expires = e.clk.Now().Add(e.cfg.TxLinger)
			return false
		}
		e.log.Info("media node refused a new call, trying another", "node", env.Node, "next", next.ID,
			"call_id", resp.CallID().Value())
		e.hopAck(iv, resp, env.Node)
		e.tryNode(iv, next)
		return true
	default:
		iv.final, iv.committed = true, true
		iv.expires = e.clk.Now().Add(e.cfg.TxLinger)
		return false
	}
}

// abandonedFinal ends the INVITE transaction of a node the call left: a
// failure is ACKed, a late 2xx is ACKed and hung up.
func (e *Edge) abandonedFinal(iv *pendingInvite, resp *sip.Response, node string) {
	if resp.StatusCode < 200 {
		return
	}
	e.hopAck(iv, resp, node)
	if resp.StatusCode < 300 {
		e.log.Warn("late answer from a media node the call left, hanging it up", "node", node,
			"call_id", resp.CallID().Value())
		e.hopRequest(iv, node, e.nodes.subject(node), sip.BYE, resp)
	}
}

// hopAck ACKs a node's final answer to iv's INVITE.
func (e *Edge) hopAck(iv *pendingInvite, resp *sip.Response, node string) {
	e.hopRequest(iv, node, e.nodes.subject(node), sip.ACK, resp)
}

// hopRequest sends node a request the edge originates on iv's INVITE
// transaction: CANCEL, ACK of a final answer (RFC 3261 §17.1.1.3: the
// INVITE's Request-URI, top Via, From, Call-ID and Route, the answer's
// To), or BYE for a 2xx the call does not want. The node's answers to it
// carry only the edge's Via and so are dropped on the way back.
func (e *Edge) hopRequest(iv *pendingInvite, node, subject string, method sip.RequestMethod, resp *sip.Response) {
	sent := iv.sent
	if sent == nil || node == "" {
		return
	}
	r := sip.NewRequest(method, sent.Recipient)
	r.AppendHeader(sip.HeaderClone(sent.Via()))
	r.AppendHeader(sip.HeaderClone(sent.From()))
	if resp != nil {
		r.AppendHeader(sip.HeaderClone(resp.To()))
	} else {
		r.AppendHeader(sip.HeaderClone(sent.To()))
	}
	r.AppendHeader(sip.HeaderClone(sent.CallID()))
	seq := sent.CSeq().SeqNo
	if method == sip.BYE {
		seq++
	}
	r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	r.AppendHeader(&mf)
	if method != sip.BYE {
		for _, h := range sent.GetHeaders("Route") {
			r.AppendHeader(sip.HeaderClone(h))
		}
	}
	cl := sip.ContentLengthHeader(0)
	r.AppendHeader(&cl)
	if method == sip.BYE || method == sip.ACK && resp != nil && resp.StatusCode < 300 {
		// A transaction of its own (the ACK of a 2xx is one too, §13.2.2.4).
		b, _ := sent.Via().Params.Get("branch")
		r.Via().Params.Add("branch", b+"-"+string(method))
	}
	e.publish(subject, sipbus.Envelope{Kind: sipbus.KindRequest, Edge: e.cfg.NodeID, Node: node,
		Flow: e.flowOut(iv.f), CallID: iv.req.CallID().Value(), Msg: []byte(r.String())})
}

// finalFromEdge answers the phone's INVITE from the edge when no node will
// (every node silent, or cancelled with no node holding the call). The
// answer is kept for the phone's retransmissions, and the phone's ACK is
// absorbed by the txCache like that of any answer of the edge's own.
func (e *Edge) finalFromEdge(iv *pendingInvite, r response) {
	iv.final, iv.committed, iv.byEdge = true, true, true
	iv.expires = e.clk.Now().Add(e.cfg.TxLinger)
	if iv.timer != nil {
		iv.timer.Stop()
	}
	r.toTag = toTagFor(iv.raw)
	b := r.build(iv.raw, iv.f.ip(), int(iv.f.remote.Port()))
	if iv.f.transport != "tcp" {
		e.tx.finish(iv.txKey, b)
	}
	e.log.Info("answered a new call from the edge", "code", strconv.Itoa(r.code), "call_id", iv.req.CallID().Value())
	e.send(iv.f, b)
}

// LiveNodes lists the media nodes the edge would send a new call to now
// (live heartbeat, not draining), sorted.
func (e *Edge) LiveNodes() []string {
	now := e.clk.Now()
	e.nodes.mu.RLock()
	out := make([]string, 0, len(e.nodes.nodes))
	for id, h := range e.nodes.nodes {
		if !h.Draining && h.ExpiresAt.After(now) {
			out = append(out, id)
		}
	}
	e.nodes.mu.RUnlock()
	slices.Sort(out)
	return out
}

package edge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

// nodeParam is the Via parameter in which the edge remembers, on requests
// it sends to phones, which media node sent them.
const nodeParam = "x-strowger-node"

// nodeTable is the edge's view of the media nodes' heartbeats.
type nodeTable struct {
	clk   clock.Clock
	mu    sync.RWMutex
	nodes map[string]sipbus.Heartbeat
	// live and genSeq follow each node's heartbeat continuity (owners.go).
	live   map[string]liveness
	genSeq uint64
}

func newNodeTable(clk clock.Clock) *nodeTable {
	return &nodeTable{clk: clk, nodes: map[string]sipbus.Heartbeat{}, live: map[string]liveness{}}
}

func (t *nodeTable) set(h sipbus.Heartbeat) {
	now := t.clk.Now()
	t.mu.Lock()
	prev, ok := t.nodes[h.ID]
	t.nodes[h.ID] = h
	t.observe(h, prev, ok, now)
	t.mu.Unlock()
}

func (t *nodeTable) remove(id string) {
	t.mu.Lock()
	delete(t.nodes, id)
	delete(t.live, id)
	t.mu.Unlock()
}

// subject is where node id takes SIP, from its heartbeat if known.
func (t *nodeTable) subject(id string) string {
	t.mu.RLock()
	h, ok := t.nodes[id]
	t.mu.RUnlock()
	if ok && h.SIPSubject != "" {
		return h.SIPSubject
	}
	return bus.MediaNodeSIP(id)
}

// binary reports whether node id reads binary envelopes (its heartbeat
// says so); unknown nodes get JSON, which every release reads.
func (t *nodeTable) binary(id string) bool {
	t.mu.RLock()
	h, ok := t.nodes[id]
	t.mu.RUnlock()
	return ok && h.Envelope >= sipbus.BinaryVersion
}

// choose picks a live node for a new dialog: the less loaded of two picked
// at random ("power of two choices"), which spreads a burst of calls that
// arrives between two heartbeats instead of piling it on the one node that
// looked idlest.
// Nodes in skip (already tried for this call) are left out.
func (t *nodeTable) choose(skip map[string]bool) (sipbus.Heartbeat, bool) {
	now := t.clk.Now()
	t.mu.RLock()
	live := make([]sipbus.Heartbeat, 0, len(t.nodes))
	for _, h := range t.nodes {
		if !h.Draining && h.ExpiresAt.After(now) && !skip[h.ID] {
			live = append(live, h)
		}
	}
	t.mu.RUnlock()
	switch len(live) {
	case 0:
		return sipbus.Heartbeat{}, false
	case 1:
		return live[0], true
	}
	a := live[mrand.IntN(len(live))]
	b := live[mrand.IntN(len(live))]
	if b.Load < a.Load {
		return b, true
	}
	return a, true
}

// startBus subscribes to this edge's subjects and follows heartbeats and bans.
func (e *Edge) startBus(ctx context.Context) error {
	h := func(msg *nats.Msg) { e.fromNode(msg.Data) }
	s1, err := e.nc.Subscribe(bus.EdgeNodeSIP(e.cfg.NodeID), h)
	if err != nil {
		return fmt.Errorf("edge: subscribing %s: %w", bus.EdgeNodeSIP(e.cfg.NodeID), err)
	}
	s2, err := e.nc.QueueSubscribe(bus.EdgeSIP, "edge", h)
	if err != nil {
		_ = s1.Unsubscribe()
		return fmt.Errorf("edge: subscribing %s: %w", bus.EdgeSIP, err)
	}
	e.subs = append(e.subs, s1, s2)
	if err := e.subscribeCredEvents(); err != nil {
		return fmt.Errorf("edge: subscribing document events: %w", err)
	}
	w, err := e.b.Nodes.WatchAll(e.ctx)
	if err != nil {
		return fmt.Errorf("edge: watching nodes: %w", err)
	}
	ready := make(chan struct{})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() { _ = w.Stop() }()
		once := sync.Once{}
		for {
			select {
			case <-e.ctx.Done():
				return
			case ent, ok := <-w.Updates():
				if !ok {
					return
				}
				if ent == nil {
					once.Do(func() { close(ready) })
					continue
				}
				if ent.Operation() != jetstream.KeyValuePut {
					e.nodes.remove(ent.Key())
					continue
				}
				var hb sipbus.Heartbeat
				if json.Unmarshal(ent.Value(), &hb) == nil && hb.ID != "" {
					e.nodes.set(hb)
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		return fmt.Errorf("edge: reading node heartbeats: %w", ctx.Err())
	}
	if err := e.nc.Flush(); err != nil {
		return fmt.Errorf("edge: flushing subscriptions: %w", err)
	}
	return e.watchBans(e.ctx)
}

// route handles every request that is not REGISTER or OPTIONS: it relays
// it to a media node, or returns the edge's own answer.
func (e *Edge) route(ctx context.Context, req *sip.Request, m *rawMsg, txKey string, f flow) (*response, bool) {
	callID := req.CallID().Value()
	branch, _ := req.Via().Params.Get("branch")
	fkey := callID + "|" + branch
	toTag := tagOf(req.To().Value())
	method := string(req.Method)

	if method == "CANCEL" {
		if iv := e.invs.get(fkey); iv != nil {
			return e.cancelInvite(iv), false
		}
	}
	if method == "ACK" || method == "CANCEL" {
		if fe, ok := e.fwd.get(fkey); ok {
			e.relayToNode(req, f, fe.node, fe.subject, nil)
			return nil, true
		}
		if method == "CANCEL" {
			return &response{code: 481, reason: "Call/Transaction Does Not Exist"}, false
		}
	}
	if toTag != "" || method == "ACK" {
		owner, ok, err := e.owner(ctx, callID)
		if err != nil {
			e.log.Error("reading call owner failed", "err", err)
			return &response{code: 500, reason: "Server Internal Error", extra: []string{"Retry-After: 5"}}, false
		}
		if !ok {
			return &response{code: 481, reason: "Call/Transaction Does Not Exist"}, false
		}
		e.relayToNode(req, f, owner.OwnerNode, e.nodes.subject(owner.OwnerNode), nil)
		return nil, true
	}
	// A retransmitted new request goes where its first copy went; the
	// node's transaction layer absorbs it.
	if iv := e.invs.get(fkey); iv != nil {
		e.retransmitted(iv)
		return nil, true
	}
	if fe, ok := e.fwd.get(fkey); ok {
		e.relayToNode(req, f, fe.node, fe.subject, nil)
		return nil, true
	}
	realm := strings.ToLower(req.From().Address.Host)
	ao := e.authenticate(ctx, m, f, true, realm, req.From().Address.User)
	if ao.silent {
		return &response{code: 0}, false
	}
	if ao.resp != nil {
		return ao.resp, false
	}
	node, ok := e.nodes.choose(nil)
	if !ok {
		return &response{code: 503, reason: "Service Unavailable", extra: []string{"Retry-After: 5"}}, false
	}
	c := ao.cred
	auth := &sipbus.Auth{AccountID: c.AccountID, Realm: c.Realm, Username: c.Username,
		AuthorizingID: c.DeviceID, AuthorizingType: "device", OwnerID: c.OwnerID}
	if method == "INVITE" {
		e.startInvite(req, m, f, txKey, fkey, node, auth)
		return nil, true
	}
	subject := node.SIPSubject
	if subject == "" {
		subject = bus.MediaNodeSIP(node.ID)
	}
	e.fwd.put(fkey, node.ID, subject)
	e.relayToNode(req, f, node.ID, subject, auth)
	return nil, true
}

// owner reads who owns a call now, from KV, and remembers it for
// staleEpoch.
func (e *Edge) owner(ctx context.Context, callID string) (sipbus.CallOwner, bool, error) {
	start := e.clk.Now()
	ent, err := e.b.Calls.Get(ctx, store.CallKey(callID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		e.owners.forget(callID)
		return sipbus.CallOwner{}, false, nil
	}
	if err != nil {
		return sipbus.CallOwner{}, false, fmt.Errorf("reading call %s: %w", callID, err)
	}
	o, err := sipbus.DecodeCallOwner(ent.Value())
	if err != nil {
		e.owners.forget(callID)
		return sipbus.CallOwner{}, false, nil
	}
	e.remember(callID, o, start)
	return o, true, nil
}

// dialogCreating methods get a Record-Route so the dialog stays on the edge.
var dialogCreating = map[string]bool{"INVITE": true, "SUBSCRIBE": true, "REFER": true, "NOTIFY": true}

// relayToNode forwards a phone's request to a media node and returns it
// as relayed.
func (e *Edge) relayToNode(req *sip.Request, f flow, node, subject string, auth *sipbus.Auth) *sip.Request {
	req = req.Clone()
	e.popOwnRoute(req)
	if mf := req.MaxForwards(); mf != nil {
		mf.Dec()
	}
	toTag := tagOf(req.To().Value())
	if dialogCreating[string(req.Method)] && toTag == "" {
		req.PrependHeader(e.recordRoute(f.transport))
	}
	phoneBranch, _ := req.Via().Params.Get("branch")
	sum := sha256.Sum256([]byte(e.cfg.NodeID + "|" + phoneBranch + "|" + req.CallID().Value()))
	via := e.via(f.transport, "z9hG4bK-se-"+hex.EncodeToString(sum[:10]))
	req.PrependHeader(via)
	env := sipbus.Envelope{Kind: sipbus.KindRequest, Edge: e.cfg.NodeID, Node: node,
		Flow: e.flowOut(f), CallID: req.CallID().Value(), Auth: auth, Msg: []byte(req.String())}
	e.publish(subject, env)
	return req
}

func (e *Edge) flowOut(f flow) *sipbus.Flow {
	return &sipbus.Flow{Transport: f.transport, Remote: f.remote.String(), Local: e.addr.String()}
}

// envBufs recycles the buffers of binary envelopes: Publish copies the
// payload into the connection's buffer before it returns.
var envBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// publish sends env to env.Node on subject, binary if the node reads it.
func (e *Edge) publish(subject string, env sipbus.Envelope) {
	if e.nodes.binary(env.Node) {
		bp := envBufs.Get().(*[]byte)
		*bp = env.AppendBinary((*bp)[:0])
		if err := e.nc.Publish(subject, *bp); err != nil {
			e.log.Warn("publishing to node failed", "subject", subject, "err", err)
		}
		if cap(*bp) <= 64<<10 {
			envBufs.Put(bp)
		}
		return
	}
	b, err := env.Marshal()
	if err != nil {
		e.log.Error("encoding envelope failed", "err", err)
		return
	}
	if err := e.nc.Publish(subject, b); err != nil {
		e.log.Warn("publishing to node failed", "subject", subject, "err", err)
	}
}

func (e *Edge) via(transport, branch string) *sip.ViaHeader {
	p := sip.NewParams()
	p.Add("branch", branch)
	return &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(transport),
		Host: e.advHost, Port: e.advPort, Params: p}
}

func (e *Edge) recordRoute(transport string) *sip.RecordRouteHeader {
	p := sip.NewParams()
	p.Add("transport", transport)
	p.Add("lr", "")
	return &sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: e.advHost, Port: e.advPort, UriParams: p}}
}

// popOwnRoute removes the top Route when it names this edge (loose routing,
// RFC 3261 §16.4).
func (e *Edge) popOwnRoute(req *sip.Request) {
	if r := req.Route(); r != nil && e.isUs(r.Address) {
		req.RemoveHeader("Route")
	}
}

// fromNode handles an envelope a media node sent to this edge.
func (e *Edge) fromNode(data []byte) {
	env, err := sipbus.Unmarshal(data)
	if err != nil {
		e.log.Warn("bad envelope from node", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, handlerTimeout)
	defer cancel()
	if env.CallID != "" && env.Epoch > 0 {
		stale, err := e.staleEpoch(ctx, env.CallID, env.Epoch)
		if err != nil {
			e.log.Warn("reading call owner failed", "err", err)
			return
		}
		if stale {
			e.log.Info("dropping signalling from stale epoch", "node", env.Node, "epoch", env.Epoch)
			return
		}
	}
	msg, err := sip.ParseMessage(env.Msg)
	if err != nil {
		e.log.Warn("unparsable SIP from node", "node", env.Node, "err", err)
		return
	}
	switch m := msg.(type) {
	case *sip.Response:
		if env.Flow == nil {
			return
		}
		if v := m.Via(); v == nil || !e.isUs(sip.Uri{Host: v.Host, Port: v.Port}) {
			return
		}
		m.RemoveHeader("Via")
		if m.Via() == nil {
			return
		}
		if e.nodeResponse(m, env) {
			return
		}
		f, ok := e.resolveFlow(env.Flow)
		if !ok {
			return
		}
		e.send(f, []byte(m.String()))
	case *sip.Request:
		e.toPhone(m, env)
	}
}

// resolveFlow turns an envelope flow into a socket to write to.
func (e *Edge) resolveFlow(sf *sipbus.Flow) (flow, bool) {
	ap, err := netip.ParseAddrPort(sf.Remote)
	if err != nil {
		return flow{}, false
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	f := flow{transport: strings.ToLower(sf.Transport), remote: ap}
	if f.transport == "tcp" {
		e.mu.Lock()
		f.conn = e.conns[ap]
		e.mu.Unlock()
		if f.conn == nil {
			return flow{}, false
		}
	} else {
		f.transport = "udp"
	}
	return f, true
}

// toPhone sends a node's request out.
func (e *Edge) toPhone(req *sip.Request, env sipbus.Envelope) {
	e.popOwnRoute(req)
	var f flow
	ok := false
	if env.Flow != nil {
		f, ok = e.resolveFlow(env.Flow)
	}
	if !ok {
		// No flow: the Request-URI (or the next Route) must be an IP literal.
		target := req.Recipient
		if r := req.Route(); r != nil {
			target = r.Address
		}
		addr, err := netip.ParseAddr(target.Host)
		if err != nil {
			e.log.Warn("node request without flow or IP target", "node", env.Node, "target", target.Host)
			return
		}
		port := target.Port
		if port == 0 {
			port = 5060
		}
		f = flow{transport: "udp", remote: netip.AddrPortFrom(addr.Unmap(), uint16(port))}
		if tp, ok := target.UriParams.Get("transport"); ok && strings.EqualFold(tp, "tcp") {
			e.mu.Lock()
			f.conn = e.conns[f.remote]
			e.mu.Unlock()
			if f.conn == nil {
				return
			}
			f.transport = "tcp"
		}
	}
	if mf := req.MaxForwards(); mf != nil {
		mf.Dec()
	} else {
		mfh := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mfh)
	}
	if dialogCreating[string(req.Method)] && tagOf(req.To().Value()) == "" {
		req.PrependHeader(e.recordRoute(f.transport))
	}
	via := e.via(f.transport, outBranch(e.cfg.NodeID, req))
	if env.Node != "" {
		via.Params.Add(nodeParam, env.Node)
	}
	req.PrependHeader(via)
	e.send(f, []byte(req.String()))
}

// outBranch is the branch of the edge's Via on a node's request. It is
// derived from the node's own top Via branch, so a retransmission of the
// request, and a CANCEL (which carries its INVITE's branch), leave the edge
// with the same branch as the original: the phone sees one transaction.
// Requests without a node Via get a random branch.
func outBranch(edgeID string, req *sip.Request) string {
	if v := req.Via(); v != nil {
		if b, ok := v.Params.Get("branch"); ok && b != "" {
			sum := sha256.Sum256([]byte(edgeID + "|out|" + b))
			return "z9hG4bK-se-" + hex.EncodeToString(sum[:10])
		}
	}
	var rb [8]byte
	_, _ = rand.Read(rb[:])
	return "z9hG4bK-se-" + hex.EncodeToString(rb[:])
}

// phoneResponse relays a phone's response to the node whose request it
// answers; any other response is a stray and is dropped (never sent on to
// an address taken from its Via).
func (e *Edge) phoneResponse(data []byte, m *rawMsg, f flow) {
	via, ok := m.get("via")
	if !ok {
		return
	}
	top := topVia(via)
	node, ok := viaParam(top, nodeParam)
	if !ok || node == "" || !isNodeID(node) {
		return
	}
	// The common case is cut out of the bytes (the node parses the message
	// anyway); anything unusual goes through the full parser.
	callID, _ := m.get("call-id")
	if out, popped, ok := popVia(data); ok && popped == top && callID != "" && m.complete {
		host, port, ok := viaSentBy(top)
		if !ok || !e.isUs(sip.Uri{Host: host, Port: port}) {
			return
		}
		e.publish(e.nodes.subject(node), sipbus.Envelope{Kind: sipbus.KindResponse, Edge: e.cfg.NodeID, Node: node,
			Flow: e.flowOut(f), CallID: callID, Msg: out})
		return
	}
	msg, err := sip.ParseMessage(data)
	if err != nil {
		return
	}
	resp, isResp := msg.(*sip.Response)
	if !isResp {
		return
	}
	if v := resp.Via(); v == nil || !e.isUs(sip.Uri{Host: v.Host, Port: v.Port}) {
		return
	}
	resp.RemoveHeader("Via")
	env := sipbus.Envelope{Kind: sipbus.KindResponse, Edge: e.cfg.NodeID, Node: node, Flow: e.flowOut(f),
		CallID: resp.CallID().Value(), Msg: []byte(resp.String())}
	e.publish(e.nodes.subject(node), env)
}

// isNodeID accepts the characters a NATS subject token may hold safely.
func isNodeID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

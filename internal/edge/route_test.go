package edge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/sipauth"
	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

// fakeNode is a media node made of a real NATS subscription.
type fakeNode struct {
	t   testing.TB
	id  string
	sub *nats.Subscription
}

func (en *env) startNode(id string, load float64) *fakeNode {
	en.t.Helper()
	sub, err := en.srv.Conn.SubscribeSync(bus.MediaNodeSIP(id))
	if err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() { _ = sub.Unsubscribe() })
	en.beat(id, load)
	return &fakeNode{t: en.t, id: id, sub: sub}
}

func (en *env) beat(id string, load float64) { en.beatEnvelope(id, load, 0) }

// beatEnvelope beats for node id announcing the envelope encoding it reads.
func (en *env) beatEnvelope(id string, load float64, envelope int) {
	en.beatHB(sipbus.Heartbeat{ID: id, Load: load, Envelope: envelope})
}

// beatHB beats with h, filling in the subject, start (kept from the node's
// previous beat) and expiry.
func (en *env) beatHB(h sipbus.Heartbeat) {
	en.t.Helper()
	id := h.ID
	now := en.clk.Now()
	h.SIPSubject, h.StartedAt, h.ExpiresAt = bus.MediaNodeSIP(id), en.started(id), now.Add(sipbus.NodeTTL)
	hb, _ := json.Marshal(h)
	if _, err := en.b.Nodes.Put(en.t.Context(), store.NodeKey(id), hb); err != nil {
		en.t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		en.e.nodes.mu.RLock()
		h, ok := en.e.nodes.nodes[id]
		en.e.nodes.mu.RUnlock()
		if ok && h.ExpiresAt.Equal(now.Add(sipbus.NodeTTL)) {
			return
		}
		if time.Now().After(deadline) {
			en.t.Fatal("edge did not see the heartbeat")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// started is node id's start time: that of its last heartbeat, else now.
func (en *env) started(id string) time.Time {
	en.e.nodes.mu.RLock()
	h, ok := en.e.nodes.nodes[id]
	en.e.nodes.mu.RUnlock()
	if ok {
		return h.StartedAt
	}
	return en.clk.Now()
}

func (n *fakeNode) next() (sipbus.Envelope, sip.Message) {
	n.t.Helper()
	m, err := n.sub.NextMsg(3 * time.Second)
	if err != nil {
		n.t.Fatalf("node %s got nothing: %v", n.id, err)
	}
	env, err := sipbus.Unmarshal(m.Data)
	if err != nil {
		n.t.Fatal(err)
	}
	msg, err := sip.ParseMessage(env.Msg)
	if err != nil {
		n.t.Fatalf("node %s: unparsable %v\n%s", n.id, err, env.Msg)
	}
	return env, msg
}

func (n *fakeNode) nothing() {
	n.t.Helper()
	if m, err := n.sub.NextMsg(200 * time.Millisecond); err == nil {
		n.t.Fatalf("node %s got unexpected %s", n.id, m.Data)
	}
}

func invite(u *ua, callID, branch, auth string) string {
	body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	s := fmt.Sprintf("INVITE sip:2000@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
		"From: <sip:alice@%s>;tag=inv1\r\nTo: <sip:2000@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:alice@%s>\r\nMax-Forwards: 70\r\n", testRealm, u.addr, branch, testRealm, testRealm, callID, u.addr)
	if auth != "" {
		s += "Proxy-Authorization: " + auth + "\r\n"
	}
	return s + fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

func (en *env) publishFromNode(env sipbus.Envelope) {
	en.t.Helper()
	b, err := env.Marshal()
	if err != nil {
		en.t.Fatal(err)
	}
	if err := en.srv.Conn.Publish(bus.EdgeNodeSIP("edge1"), b); err != nil {
		en.t.Fatal(err)
	}
}

func TestRouteToMediaNodes(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1 := en.startNode("m1", 0.1)
	u := en.udpUA()

	// 407 first; its ACK is absorbed by the edge.
	u.send(invite(u, "call-1", "z9hG4bK-i1", ""))
	r := u.resp()
	if r.StatusCode != 407 {
		t.Fatalf("INVITE without credentials: %d", r.StatusCode)
	}
	toTag, _ := r.To().Params.Get("tag")
	u.send(fmt.Sprintf("ACK sip:2000@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-i1\r\nFrom: <sip:alice@%s>;tag=inv1\r\n"+
		"To: <sip:2000@%s>;tag=%s\r\nCall-ID: call-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		testRealm, u.addr, testRealm, testRealm, toTag))
	m1.nothing()

	h, _ := sipauth.Authorization(r.GetHeader("Proxy-Authenticate").Value(), "INVITE", "sip:"+testRealm, "alice", "alicepw", "c", 1)
	u.send(invite(u, "call-1", "z9hG4bK-i2", h))
	env, msg := m1.next()
	req := msg.(*sip.Request)
	if env.Auth == nil || env.Auth.AccountID != testAcct || env.Auth.AuthorizingID != "dev-alice" || env.Edge != "edge1" {
		t.Fatalf("envelope auth %+v edge %q", env.Auth, env.Edge)
	}
	if rr := req.RecordRoute(); rr == nil || rr.Address.Port != int(en.e.Addr().Port()) {
		t.Fatalf("no record-route to the edge: %v", req.RecordRoute())
	}
	if v := req.Via(); v.Port != int(en.e.Addr().Port()) || len(req.GetHeaders("Via")) != 2 {
		t.Fatalf("edge via missing: %v", req.GetHeaders("Via"))
	}
	if req.MaxForwards().Val() != 69 {
		t.Fatalf("max-forwards %d", req.MaxForwards().Val())
	}

	// The node answers 200 through the edge; the phone sees its own Via on top.
	resp := sip.NewResponseFromRequest(req, 200, "OK", nil)
	resp.To().Params.Add("tag", "b2b1")
	en.publishFromNode(sipbus.Envelope{Kind: sipbus.KindResponse, Edge: env.Edge, Node: "m1", Flow: env.Flow,
		CallID: "call-1", Msg: []byte(resp.String())})
	got := u.resp()
	if got.StatusCode != 200 || len(got.GetHeaders("Via")) != 1 || !strings.Contains(got.Via().Value(), "z9hG4bK-i2") {
		t.Fatalf("relayed 200: %s", got)
	}

	// The call moves to m2 (epoch 2); the phone's BYE follows ownership now.
	m2 := en.startNode("m2", 0.5)
	own, _ := json.Marshal(map[string]any{"owner_node": "m2", "epoch": 2, "legs": []string{"x"}})
	if _, err := en.b.Calls.Put(t.Context(), store.CallKey("call-1"), own); err != nil {
		t.Fatal(err)
	}
	u.send(fmt.Sprintf("BYE sip:b2bua@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-b1\r\nRoute: <sip:%s;lr>\r\n"+
		"From: <sip:alice@%s>;tag=inv1\r\nTo: <sip:2000@%s>;tag=b2b1\r\nCall-ID: call-1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", testRealm, u.addr, en.e.Addr(), testRealm, testRealm))
	_, bye := m2.next()
	if bye.(*sip.Request).Method != sip.BYE || bye.(*sip.Request).Route() != nil {
		t.Fatalf("m2 got %s", bye)
	}
	m1.nothing()

	// Signalling from the stale owner (epoch 1) is dropped; the owner's goes out.
	nodeReq := func(node string, epoch uint64, branch string) {
		b := fmt.Sprintf("INFO sip:alice@%s SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=%s\r\n"+
			"From: <sip:2000@%s>;tag=b2b1\r\nTo: <sip:alice@%s>;tag=inv1\r\nCall-ID: call-1\r\nCSeq: 9 INFO\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", u.addr, branch, testRealm, testRealm)
		en.publishFromNode(sipbus.Envelope{Kind: sipbus.KindRequest, Edge: "edge1", Node: node, Flow: env.Flow,
			CallID: "call-1", Epoch: epoch, Msg: []byte(b)})
	}
	nodeReq("m1", 1, "z9hG4bK-stale")
	u.silent()
	nodeReq("m2", 2, "z9hG4bK-fresh")
	in := u.recv(3 * time.Second)
	info, ok := in.(*sip.Request)
	if !ok || info.Method != sip.INFO {
		t.Fatalf("phone got %v", in)
	}
	// A retransmission by the node reaches the phone with the same edge
	// branch: one transaction, not two.
	nodeReq("m2", 2, "z9hG4bK-fresh")
	again, ok := u.recv(3 * time.Second).(*sip.Request)
	if !ok {
		t.Fatal("retransmission not relayed")
	}
	b1, _ := info.Via().Params.Get("branch")
	b2, _ := again.Via().Params.Get("branch")
	if b1 != b2 || b1 == "" {
		t.Fatalf("edge branches differ for one transaction: %q %q", b1, b2)
	}
	// The phone's answer returns to m2, the node that asked.
	u.send(sip.NewResponseFromRequest(info, 200, "OK", nil).String())
	renv, rmsg := m2.next()
	if rr, ok := rmsg.(*sip.Response); !ok || rr.StatusCode != 200 || renv.Kind != sipbus.KindResponse ||
		strings.Contains(rr.Via().Value(), "x-strowger-node") {
		t.Fatalf("m2 got %s", rmsg)
	}

	// Unknown dialog → 481.
	u.send(strings.ReplaceAll(strings.Replace(invite(u, "nope", "z9hG4bK-n", ""), "To: <sip:2000@a.test>", "To: <sip:2000@a.test>;tag=zz", 1), "CSeq: 1", "CSeq: 1"))
	if r := u.resp(); r.StatusCode != 481 {
		t.Fatalf("unknown dialog: %d", r.StatusCode)
	}

	// Heartbeats stop: once their expiry passes (1 s), no new calls go there.
	en.clk.Advance(1100 * time.Millisecond)
	u.send(invite(u, "call-2", "z9hG4bK-j1", ""))
	r = u.resp()
	h, _ = sipauth.Authorization(r.GetHeader("Proxy-Authenticate").Value(), "INVITE", "sip:"+testRealm, "alice", "alicepw", "c", 1)
	u.send(invite(u, "call-2", "z9hG4bK-j2", h))
	if r := u.resp(); r.StatusCode != 503 {
		t.Fatalf("no live node: %d", r.StatusCode)
	}
}

// The edge writes binary envelopes only to nodes whose heartbeat says they
// read them, and reads both forms from nodes.
func TestEnvelopeFormatFollowsHeartbeat(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	old := en.startNode("old", 0.1)
	u := en.udpUA()
	first := func(n *fakeNode) []byte {
		t.Helper()
		m, err := n.sub.NextMsg(3 * time.Second)
		if err != nil {
			t.Fatalf("node %s got nothing: %v", n.id, err)
		}
		return m.Data
	}
	call := func(callID string) {
		t.Helper()
		u.send(invite(u, callID, "z9hG4bK-"+callID+"a", ""))
		r := u.resp()
		h, _ := sipauth.Authorization(r.GetHeader("Proxy-Authenticate").Value(), "INVITE", "sip:"+testRealm, "alice", "alicepw", "c", 1)
		u.send(invite(u, callID, "z9hG4bK-"+callID+"b", h))
	}
	call("fmt-1")
	if data := first(old); data[0] != '{' {
		t.Fatalf("a node of an older release got %q, want JSON", data[:8])
	}

	en.beatEnvelope("old", 0.1, sipbus.BinaryVersion)
	call("fmt-2")
	data := first(old)
	if data[0] != sipbus.BinaryVersion {
		t.Fatalf("a node reading binary got %q", data[:8])
	}
	env, err := sipbus.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	req, err := sip.ParseMessage(env.Msg)
	if err != nil || env.Auth == nil || env.Auth.Username != "alice" || env.Flow == nil {
		t.Fatalf("binary envelope %+v: %v", env, err)
	}
	// A binary answer from the node reaches the phone.
	resp := sip.NewResponseFromRequest(req.(*sip.Request), 180, "Ringing", nil)
	b := sipbus.Envelope{Kind: sipbus.KindResponse, Edge: env.Edge, Node: "old", Flow: env.Flow,
		CallID: "fmt-2", Msg: []byte(resp.String())}.AppendBinary(nil)
	if err := en.srv.Conn.Publish(bus.EdgeNodeSIP("edge1"), b); err != nil {
		t.Fatal(err)
	}
	if got := u.resp(); got.StatusCode != 180 || got.CallID().Value() != "fmt-2" {
		t.Fatalf("phone got %s", got)
	}
	// A bad binary envelope is dropped; the edge goes on.
	if err := en.srv.Conn.Publish(bus.EdgeNodeSIP("edge1"), b[:len(b)-5]); err != nil {
		t.Fatal(err)
	}
	u.silent()
}

func TestChooseByLoad(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.beat("busy", 0.9)
	en.beat("idle", 0.1)
	counts := map[string]int{}
	for range 200 {
		h, ok := en.e.nodes.choose(nil)
		if !ok {
			t.Fatal("no node")
		}
		counts[h.ID]++
	}
	if counts["idle"] <= counts["busy"] {
		t.Fatalf("load ignored: %v", counts)
	}
}

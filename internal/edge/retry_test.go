package edge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/sipauth"
	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

// beatFor publishes a heartbeat valid for d on the edge's clock (so a
// test can move the clock past a node's answer timeout and keep the node
// live) and waits until the edge has it.
func (en *env) beatFor(id string, load float64, d time.Duration) {
	en.t.Helper()
	now := en.clk.Now()
	hb, _ := json.Marshal(sipbus.Heartbeat{ID: id, SIPSubject: bus.MediaNodeSIP(id), Load: load,
		StartedAt: now, ExpiresAt: now.Add(d)})
	if _, err := en.b.Nodes.Put(en.t.Context(), store.NodeKey(id), hb); err != nil {
		en.t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		en.e.nodes.mu.RLock()
		h, ok := en.e.nodes.nodes[id]
		en.e.nodes.mu.RUnlock()
		if ok && h.ExpiresAt.Equal(now.Add(d)) {
			return
		}
		if time.Now().After(deadline) {
			en.t.Fatal("edge did not see the heartbeat")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// twoNodes starts media nodes m1 and m2, live for a minute.
func (en *env) twoNodes() (*fakeNode, *fakeNode) {
	en.t.Helper()
	m1, m2 := en.startNode("m1", 0.1), en.startNode("m2", 0.1)
	en.beatFor("m1", 0.1, time.Minute)
	en.beatFor("m2", 0.1, time.Minute)
	return m1, m2
}

// call is a phone's authenticated INVITE.
type call struct {
	u      *ua
	callID string
	branch string
	msg    string // the INVITE as sent, for retransmissions
}

// dial sends an INVITE, answers the challenge and sends it again with
// credentials; the edge relays that one.
func (en *env) dial(u *ua, callID string) *call {
	en.t.Helper()
	u.send(invite(u, callID, "z9hG4bK-"+callID+"-0", ""))
	r := u.resp()
	if r.StatusCode != 407 {
		en.t.Fatalf("INVITE without credentials: %d", r.StatusCode)
	}
	toTag, _ := r.To().Params.Get("tag")
	u.send(fmt.Sprintf("ACK sip:2000@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s-0\r\nFrom: <sip:alice@%s>;tag=inv1\r\n"+
		"To: <sip:2000@%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		testRealm, u.addr, callID, testRealm, testRealm, toTag, callID))
	h, _ := sipauth.Authorization(r.GetHeader("Proxy-Authenticate").Value(), "INVITE", "sip:"+testRealm, "alice", "alicepw", "c", 1)
	c := &call{u: u, callID: callID, branch: "z9hG4bK-" + callID + "-1"}
	c.msg = invite(u, callID, c.branch, h)
	u.send(c.msg)
	return c
}

// cancel sends the phone's CANCEL of c.
func (c *call) cancel() {
	c.u.send(fmt.Sprintf("CANCEL sip:2000@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nFrom: <sip:alice@%s>;tag=inv1\r\n"+
		"To: <sip:2000@%s>\r\nCall-ID: %s\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		testRealm, c.u.addr, c.branch, testRealm, testRealm, c.callID))
}

// ack sends the phone's ACK of a failure answer r.
func (c *call) ack(r *sip.Response) {
	toTag, _ := r.To().Params.Get("tag")
	c.u.send(fmt.Sprintf("ACK sip:2000@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nFrom: <sip:alice@%s>;tag=inv1\r\n"+
		"To: <sip:2000@%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		testRealm, c.u.addr, c.branch, testRealm, testRealm, toTag, c.callID))
}

// firstOf waits for a message on either node and returns that node, the
// other one, and the message.
func firstOf(t *testing.T, a, b *fakeNode) (got, other *fakeNode, env sipbus.Envelope, req *sip.Request) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range []*fakeNode{a, b} {
			m, err := n.sub.NextMsg(20 * time.Millisecond)
			if err != nil {
				continue
			}
			env, err := sipbus.Unmarshal(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := sip.ParseMessage(env.Msg)
			if err != nil {
				t.Fatal(err)
			}
			r, ok := msg.(*sip.Request)
			if !ok {
				t.Fatalf("node %s got %s", n.id, msg)
			}
			if n == a {
				return a, b, env, r
			}
			return b, a, env, r
		}
	}
	t.Fatal("no node got the INVITE")
	return nil, nil, sipbus.Envelope{}, nil
}

// nextReq is the node's next message, which must be a request of method.
func (n *fakeNode) nextReq(method sip.RequestMethod) (sipbus.Envelope, *sip.Request) {
	n.t.Helper()
	env, msg := n.next()
	r, ok := msg.(*sip.Request)
	if !ok || r.Method != method {
		n.t.Fatalf("node %s: want %s, got %s", n.id, method, msg)
	}
	return env, r
}

// answer sends the node's response to req, with a To tag and extra headers.
func (en *env) answer(node string, env sipbus.Envelope, req *sip.Request, code int, extra ...string) {
	en.t.Helper()
	resp := sip.NewResponseFromRequest(req, code, "", nil)
	if code > 100 {
		resp.To().Params.Add("tag", "tag-"+node)
	}
	for _, h := range extra {
		k, v, _ := strings.Cut(h, ": ")
		resp.AppendHeader(sip.NewHeader(k, v))
	}
	en.publishFromNode(sipbus.Envelope{Kind: sipbus.KindResponse, Edge: env.Edge, Node: node, Flow: env.Flow,
		CallID: req.CallID().Value(), Msg: []byte(resp.String())})
}

// TestRetryOnRefusal: the first node refuses with 503 + Retry-After; the
// edge ACKs that 503 itself, sends the same authenticated INVITE to the
// other node, whose answers reach the phone; the phone's retransmission
// goes to the new node and a retransmitted 503 of the first is ACKed
// again, never relayed.
func TestRetryOnRefusal(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1, m2 := en.twoNodes()
	u := en.udpUA()
	c := en.dial(u, "retry-1")

	a, b, envA, invA := firstOf(t, m1, m2)
	en.answer(a.id, envA, invA, 503, "Retry-After: 5")
	_, ack := a.nextReq(sip.ACK)
	if ack.CSeq().SeqNo != invA.CSeq().SeqNo || ack.CallID().Value() != c.callID || len(ack.GetHeaders("Via")) != 1 ||
		ack.Via().Value() != invA.Via().Value() {
		t.Fatalf("hop-by-hop ACK of the 503:\n%s\nfor\n%s", ack, invA)
	}
	if tag, _ := ack.To().Params.Get("tag"); tag != "tag-"+a.id {
		t.Fatalf("ACK To tag %q", tag)
	}
	envB, invB := b.nextReq(sip.INVITE)
	if envB.Auth == nil || envB.Auth.AuthorizingID != "dev-alice" || invB.CallID().Value() != c.callID ||
		string(invB.Body()) != string(invA.Body()) || invB.Via().Value() != invA.Via().Value() {
		t.Fatalf("retried INVITE (auth %+v):\n%s", envB.Auth, invB)
	}
	u.silent()

	// The phone's retransmission reaches the node now trying the call.
	u.send(c.msg)
	envR, _ := b.nextReq(sip.INVITE)
	if envR.Auth == nil {
		t.Fatal("retransmission relayed without the call's authentication")
	}
	a.nothing()

	// A retransmitted 503 from the first node: ACKed again, not relayed.
	en.answer(a.id, envA, invA, 503, "Retry-After: 5")
	a.nextReq(sip.ACK)
	u.silent()

	en.answer(b.id, envB, invB, 180)
	if r := u.resp(); r.StatusCode != 180 {
		t.Fatalf("phone got %d, want 180", r.StatusCode)
	}
	en.answer(b.id, envB, invB, 200)
	if r := u.resp(); r.StatusCode != 200 {
		t.Fatalf("phone got %d, want 200", r.StatusCode)
	}
	a.nothing()
}

// TestRetryEveryNodeRefuses: with every node refusing, the last 503 (with
// its Retry-After) reaches the phone and the phone's ACK goes to that node.
func TestRetryEveryNodeRefuses(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1, m2 := en.twoNodes()
	u := en.udpUA()
	c := en.dial(u, "retry-2")
	a, b, envA, invA := firstOf(t, m1, m2)
	en.answer(a.id, envA, invA, 503, "Retry-After: 5")
	a.nextReq(sip.ACK)
	envB, invB := b.nextReq(sip.INVITE)
	u.silent()
	en.answer(b.id, envB, invB, 503, "Retry-After: 7")
	r := u.resp()
	if r.StatusCode != 503 || r.GetHeader("Retry-After") == nil || r.GetHeader("Retry-After").Value() != "7" {
		t.Fatalf("phone got %s", r)
	}
	c.ack(r)
	b.nextReq(sip.ACK)
	a.nothing()
}

// TestRetryOnlyRefusals: a 503 without Retry-After (a callflow's outcome)
// and a 503 after ringing are relayed, not retried.
func TestRetryOnlyRefusals(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1, m2 := en.twoNodes()
	u := en.udpUA()

	c := en.dial(u, "retry-3")
	a, b, env, inv := firstOf(t, m1, m2)
	en.answer(a.id, env, inv, 503)
	if r := u.resp(); r.StatusCode != 503 {
		t.Fatalf("phone got %d", r.StatusCode)
	}
	b.nothing()
	_ = c

	en.dial(u, "retry-4")
	a, b, env, inv = firstOf(t, m1, m2)
	en.answer(a.id, env, inv, 180)
	if r := u.resp(); r.StatusCode != 180 {
		t.Fatalf("phone got %d", r.StatusCode)
	}
	en.answer(a.id, env, inv, 503, "Retry-After: 5")
	if r := u.resp(); r.StatusCode != 503 {
		t.Fatalf("phone got %d", r.StatusCode)
	}
	b.nothing()
}

// TestRetryCancel: the phone CANCELs while the second node has the call:
// the edge answers the CANCEL, the node gets the edge's CANCEL and its
// 487 reaches the phone.
func TestRetryCancel(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1, m2 := en.twoNodes()
	u := en.udpUA()
	c := en.dial(u, "retry-5")
	a, b, envA, invA := firstOf(t, m1, m2)
	en.answer(a.id, envA, invA, 503, "Retry-After: 5")
	a.nextReq(sip.ACK)
	envB, invB := b.nextReq(sip.INVITE)
	en.answer(b.id, envB, invB, 100)
	if r := u.resp(); r.StatusCode != 100 {
		t.Fatalf("phone got %d", r.StatusCode)
	}

	c.cancel()
	if r := u.resp(); r.StatusCode != 200 || r.CSeq().MethodName != sip.CANCEL {
		t.Fatalf("CANCEL answered %s", r)
	}
	_, cancel := b.nextReq(sip.CANCEL)
	if cancel.Via().Value() != invB.Via().Value() || cancel.CSeq().SeqNo != invB.CSeq().SeqNo {
		t.Fatalf("CANCEL does not match the INVITE it cancels:\n%s", cancel)
	}
	a.nothing()
	// The node's answer to the edge's CANCEL stays at the edge.
	en.answer(b.id, envB, cancel, 200)
	u.silent()
	en.answer(b.id, envB, invB, 487)
	r := u.resp()
	if r.StatusCode != 487 {
		t.Fatalf("phone got %d", r.StatusCode)
	}
	c.ack(r)
	b.nextReq(sip.ACK)
}

// TestRetryCancelCrossesRefusal: the phone's CANCEL reaches the edge while
// the node is refusing: nobody has the call, the edge answers 487 itself
// and absorbs the phone's ACK.
func TestRetryCancelCrossesRefusal(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1, m2 := en.twoNodes()
	u := en.udpUA()
	c := en.dial(u, "retry-6")
	a, b, envA, invA := firstOf(t, m1, m2)
	c.cancel()
	if r := u.resp(); r.StatusCode != 200 {
		t.Fatalf("CANCEL answered %d", r.StatusCode)
	}
	a.nextReq(sip.CANCEL)
	en.answer(a.id, envA, invA, 503, "Retry-After: 5")
	a.nextReq(sip.ACK)
	r := u.resp()
	if r.StatusCode != 487 || r.CSeq().MethodName != sip.INVITE {
		t.Fatalf("phone got %s", r)
	}
	// A retransmitted INVITE gets the same 487 from the edge.
	u.send(c.msg)
	if again := u.resp(); again.String() != r.String() {
		t.Fatalf("retransmission answered\n%s\nnot\n%s", again, r)
	}
	c.ack(r)
	a.nothing()
	b.nothing()
}

// TestRetrySilentNode: a node that answers nothing within the answer
// timeout gets a CANCEL and the call goes to another node; a late 200
// from the silent node is ACKed and hung up, never relayed. With no node
// left the edge answers 503 itself; a CANCEL with no node answering is
// answered 487 by the edge.
func TestRetrySilentNode(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1, m2 := en.twoNodes()
	u := en.udpUA()
	en.dial(u, "retry-7")
	a, b, envA, invA := firstOf(t, m1, m2)
	en.clk.Advance(1900 * time.Millisecond)
	b.nothing()
	en.clk.Advance(200 * time.Millisecond)
	_, cancel := a.nextReq(sip.CANCEL)
	if cancel.Via().Value() != invA.Via().Value() {
		t.Fatalf("CANCEL to the silent node:\n%s", cancel)
	}
	envB, invB := b.nextReq(sip.INVITE)

	// The silent node wakes up and answers: it is ACKed and hung up.
	en.answer(a.id, envA, invA, 200)
	_, ack := a.nextReq(sip.ACK)
	_, bye := a.nextReq(sip.BYE)
	if tag, _ := bye.To().Params.Get("tag"); tag != "tag-"+a.id || bye.CSeq().SeqNo != invA.CSeq().SeqNo+1 {
		t.Fatalf("BYE to the late node:\n%s", bye)
	}
	b0, _ := invA.Via().Params.Get("branch")
	if b1, _ := ack.Via().Params.Get("branch"); b1 == "" || b1 == b0 {
		t.Fatalf("ACK of a 2xx reuses the INVITE's branch:\n%s", ack)
	}
	u.silent()

	// The second node is silent too: no node left, 503 from the edge.
	en.clk.Advance(2100 * time.Millisecond)
	b.nextReq(sip.CANCEL)
	r := u.resp()
	if r.StatusCode != 503 || r.GetHeader("Retry-After") == nil {
		t.Fatalf("phone got %s", r)
	}
	// Its late 487 for the CANCEL is ACKed and absorbed.
	en.answer(b.id, envB, invB, 487)
	b.nextReq(sip.ACK)
	u.silent()

	// CANCEL to a silent node: 200 at once, 487 when the node stays silent.
	c := en.dial(u, "retry-8")
	a, _, _, inv := firstOf(t, m1, m2)
	c.cancel()
	if r := u.resp(); r.StatusCode != 200 {
		t.Fatalf("CANCEL answered %s\nINVITE %s", r, inv)
	}
	a.nextReq(sip.CANCEL)
	en.clk.Advance(2100 * time.Millisecond)
	if r := u.resp(); r.StatusCode != 487 {
		t.Fatalf("phone got %d, want 487", r.StatusCode)
	}
	m1.nothing()
	m2.nothing()
}

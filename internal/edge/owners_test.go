package edge

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

// The edge checks a node's epoch against the owner it remembers while that
// owner heart-beats without a gap; a gap, a drain or a missed beat sends it
// back to KV, where a takeover shows.
func TestEpochCheckRemembersSteadyOwner(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.startNode("m1", 0.1)
	en.startNode("m2", 0.1)
	u := en.udpUA()
	setOwner := func(node string, epoch int) {
		t.Helper()
		v, _ := json.Marshal(map[string]any{"owner_node": node, "epoch": epoch, "checkpoint": map[string]any{"x": 1}})
		if _, err := en.b.Calls.Put(t.Context(), store.CallKey("call-o"), v); err != nil {
			t.Fatal(err)
		}
	}
	seq := 0
	// send has node send an in-dialog request under epoch; it reports
	// whether the phone got it.
	send := func(node string, epoch uint64) bool {
		t.Helper()
		seq++
		b := fmt.Sprintf("INFO sip:alice@%s SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-o%d\r\n"+
			"From: <sip:2000@%s>;tag=b2b1\r\nTo: <sip:alice@%s>;tag=inv1\r\nCall-ID: call-o\r\nCSeq: %d INFO\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", u.addr, seq, testRealm, testRealm, seq)
		en.publishFromNode(sipbus.Envelope{Kind: sipbus.KindRequest, Edge: "edge1", Node: node,
			Flow:   &sipbus.Flow{Transport: "udp", Remote: u.addr, Local: en.e.Addr().String()},
			CallID: "call-o", Epoch: epoch, Msg: []byte(b)})
		m := u.recv(500 * time.Millisecond)
		if m == nil {
			return false
		}
		if r, ok := m.(*sip.Request); !ok || r.Method != sip.INFO || r.CSeq().SeqNo != uint32(seq) {
			t.Fatalf("phone got %s", m)
		}
		return true
	}
	remembered := func() (sipbus.CallOwner, bool) {
		ce, ok := en.e.owners.get("call-o", en.clk.Now())
		return ce.owner, ok
	}

	setOwner("m1", 1)
	if !send("m1", 1) {
		t.Fatal("the owner's message was dropped")
	}
	if o, ok := remembered(); !ok || o != (sipbus.CallOwner{OwnerNode: "m1", Epoch: 1}) {
		t.Fatalf("remembered %+v %v", o, ok)
	}
	// m1 keeps beating: its remembered epoch answers, KV is not read (a
	// change that breaks the takeover contract, made by hand here, is not
	// seen).
	en.clk.Advance(200 * time.Millisecond)
	en.beat("m1", 0.1)
	en.beat("m2", 0.1)
	setOwner("m2", 2)
	if !send("m1", 1) {
		t.Fatal("the remembered owner was not used")
	}
	// m1's heartbeats show a gap (a pause long enough for a takeover): the
	// next check reads KV and drops m1's stale message; m2's passes.
	en.clk.Advance(600 * time.Millisecond)
	en.beat("m2", 0.1)
	en.beat("m1", 0.1)
	if send("m1", 1) {
		t.Fatal("a stale epoch passed after the owner's heartbeat gap")
	}
	if o, _ := remembered(); o != (sipbus.CallOwner{OwnerNode: "m2", Epoch: 2}) {
		t.Fatalf("remembered %+v after the re-read", o)
	}
	if !send("m2", 2) {
		t.Fatal("the new owner's message was dropped")
	}
	// A lower epoch than the one remembered is stale without a read.
	if send("m2", 1) {
		t.Fatal("a lower epoch passed")
	}

	// The owner misses its beats (paused, no heartbeat since): KV again.
	en.clk.Advance(200 * time.Millisecond)
	en.beat("m2", 0.1)
	en.beat("m1", 0.1)
	en.clk.Advance(beatGap + time.Millisecond)
	setOwner("m1", 3)
	if send("m2", 2) {
		t.Fatal("a paused owner's remembered epoch was trusted")
	}
	// A draining owner hands calls over: KV is read for its calls.
	en.beatHB(sipbus.Heartbeat{ID: "m1", Draining: true})
	if !send("m1", 3) {
		t.Fatal("the owner's message was dropped")
	}
	setOwner("m2", 4)
	if send("m1", 3) {
		t.Fatal("a draining owner's remembered epoch was trusted")
	}
}

func TestOwnerCacheRotates(t *testing.T) {
	c := newOwnerCache()
	now := time.Unix(100, 0)
	c.put("a", ownerEntry{owner: sipbus.CallOwner{OwnerNode: "n", Epoch: 1}}, now)
	if _, ok := c.get("a", now.Add(ownerTTL)); !ok {
		t.Fatal("gone after one period")
	}
	c.put("b", ownerEntry{}, now.Add(ownerTTL))
	if _, ok := c.get("a", now.Add(2*ownerTTL)); ok {
		t.Fatal("kept after two periods")
	}
	if _, ok := c.get("b", now.Add(2*ownerTTL)); !ok {
		t.Fatal("a younger entry went")
	}
	if _, ok := c.get("b", now.Add(5*ownerTTL)); ok || c.len() != 0 {
		t.Fatalf("after a long idle time: %d entries", c.len())
	}
}

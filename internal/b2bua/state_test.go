package b2bua

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

// Edges read a call key's owner from its first bytes
// (sipbus.DecodeCallOwner): Record must keep owner_node and epoch first.
func TestRecordStartsWithOwner(t *testing.T) {
	b, err := json.Marshal(Record{OwnerNode: "media1", Epoch: 3, V: CheckpointVersion, AccountID: "a",
		Checkpoint: &Checkpoint{State: "ringing"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`{"owner_node":"media1","epoch":3,`)) {
		t.Fatalf("record starts %s", b[:40])
	}
	if o, err := sipbus.DecodeCallOwner(b); err != nil || o != (sipbus.CallOwner{OwnerNode: "media1", Epoch: 3}) {
		t.Fatalf("owner %+v %v", o, err)
	}
}

// A callee's key carries its ownership and is written once; the answer
// reaches its channel index entry and the caller's checkpoint.
func TestCalleeKeyWrittenOnce(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, bd := answerCall(en, alice, bob)
	en.waitAcked(d.callID)
	calls := en.b2b.d.Buckets.Calls
	bk, err := calls.Get(t.Context(), store.CallKey(bd.callID))
	if err != nil {
		t.Fatal(err)
	}
	if o, err := sipbus.DecodeCallOwner(bk.Value()); err != nil || o.OwnerNode != "media1" || o.Epoch != 1 {
		t.Fatalf("callee key owner %+v %v", o, err)
	}
	idx, err := calls.Get(t.Context(), store.ChannelKey(en.acct, bd.callID))
	if err != nil {
		t.Fatal(err)
	}
	var ch Record
	if err := json.Unmarshal(idx.Value(), &ch); err != nil || !ch.Channel.Answered || ch.Channel.OtherLeg != d.callID {
		t.Fatalf("callee channel %+v %v", ch.Channel, err)
	}
	ak, err := calls.Get(t.Context(), store.CallKey(d.callID))
	if err != nil {
		t.Fatal(err)
	}
	// Written before the caller's checkpoints of ringing and answer, and
	// not after (the bucket keeps one revision a key: compare).
	if bk.Revision() > ak.Revision() {
		t.Fatalf("callee key rewritten after the caller's checkpoint (revisions %d > %d)", bk.Revision(), ak.Revision())
	}
	var rec Record
	if err := json.Unmarshal(ak.Value(), &rec); err != nil || rec.Checkpoint == nil || rec.Checkpoint.Bridged != bd.callID ||
		len(rec.Checkpoint.Callees) != 1 || !rec.Checkpoint.Callees[0].Answered || rec.Checkpoint.Callees[0].RemoteTag == "" {
		t.Fatalf("caller checkpoint %+v %v", rec.Checkpoint, err)
	}
	alice.hangUp(d, bob)
	en.noLiveCalls()
}

// A checkpoint whose channels did not change writes no index entry; one
// that changes a channel rewrites that entry.
func TestUnchangedChannelNotRewritten(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, bd := answerCall(en, alice, bob)
	en.waitAcked(d.callID)
	calls := en.b2b.d.Buckets.Calls
	rev := func(callID string) uint64 {
		t.Helper()
		e, err := calls.Get(t.Context(), store.ChannelKey(en.acct, callID))
		if err != nil {
			t.Fatal(err)
		}
		return e.Revision()
	}
	a0, b0 := rev(d.callID), rev(bd.callID)
	en.inCall(d.callID, func(c *call) { c.saveState() })
	if a, b := rev(d.callID), rev(bd.callID); a != a0 || b != b0 {
		t.Fatalf("unchanged channels rewritten: %d→%d, %d→%d", a0, a, b0, b)
	}
	en.inCall(d.callID, func(c *call) { c.peer.calleeName = "Robert"; c.saveState() })
	if a, b := rev(d.callID), rev(bd.callID); a != a0 || b == b0 {
		t.Fatalf("a changed callee channel: revisions %d→%d, %d→%d", a0, a, b0, b)
	}
	alice.hangUp(d, bob)
	en.noLiveCalls()
}

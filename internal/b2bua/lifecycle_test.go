package b2bua

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

func (en *env) heartbeat() (sipbus.Heartbeat, bool) {
	en.t.Helper()
	e, err := en.st.Buckets().Nodes.Get(en.t.Context(), store.NodeKey("media1"))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sipbus.Heartbeat{}, false
	}
	if err != nil {
		en.t.Fatal(err)
	}
	var hb sipbus.Heartbeat
	if err := json.Unmarshal(e.Value(), &hb); err != nil {
		en.t.Fatal(err)
	}
	return hb, true
}

func TestHeartbeatEventsAndShutdown(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	hb, ok := en.heartbeat()
	if !ok || hb.SIPSubject != bus.MediaNodeSIP("media1") || hb.Load != 0 || !hb.ExpiresAt.Equal(en.clk.Now().Add(sipbus.NodeTTL)) {
		t.Fatalf("first heartbeat %+v", hb)
	}
	sub, err := en.srv.Conn.SubscribeSync(bus.CallEventsAccount(en.acct))
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := en.registeredPair()
	d, bd := setupCall(t, en, alice, bob)

	// Events: create ×2, answer ×2, bridge, with the tenant's ids.
	seen := map[string]int{}
	for len(seen) < 3 || seen["CHANNEL_CREATE"] < 2 || seen["CHANNEL_ANSWER"] < 2 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("events so far %v: %v", seen, err)
		}
		var ev map[string]any
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		name := ev["event_name"].(string)
		seen[name]++
		if ev["account_id"] != en.acct || ev["owner_node"] != "media1" || !strings.Contains(m.Subject, "."+name+".") {
			t.Fatalf("event %s on %s: %v", name, m.Subject, ev)
		}
		if ev["call_id"] == d.callID && (ev["authorizing_id"] != en.devs["100"] || ev["owner_id"] != en.users["alice"]) {
			t.Fatalf("caller event without its device/owner: %v", ev)
		}
		if ev["call_id"] == bd.callID && ev["authorizing_id"] != en.devs["101"] {
			t.Fatalf("callee event without its device: %v", ev)
		}
	}
	if seen["CHANNEL_BRIDGE"] != 1 {
		t.Fatalf("events %v", seen)
	}

	// The load follows live calls on the next beat.
	en.clk.Advance(250 * time.Millisecond)
	waitFor(t, "a heartbeat with load", func() bool { hb, _ := en.heartbeat(); return hb.Load > 0 })

	// Stopping the node ends the call with BYE on both legs.
	stopped := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		en.b2b.Stop(ctx)
		close(stopped)
	}()
	alice.respond(alice.req(sip.BYE), 200, "", "")
	bob.respond(bob.req(sip.BYE), 200, "", "")
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	if _, ok := en.heartbeat(); ok {
		t.Fatal("heartbeat left behind after Stop")
	}
	en.noLiveCalls()
	en.cdrs(2)
	destroyed := 0
	for destroyed < 2 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no CHANNEL_DESTROY: %v", err)
		}
		if strings.Contains(m.Subject, ".CHANNEL_DESTROY.") {
			destroyed++
		}
	}
}

func TestAnswerThenBridge(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(func(ctx context.Context, c callflow.Call) error {
		if err := c.Answer(ctx); err != nil {
			return err
		}
		_, err := c.Bridge(ctx, callflow.BridgeRequest{Endpoints: en.endpoints("101")})
		return err
	})
	alice, bob := en.registeredPair()
	d := alice.call("101", alice.sdpBody(1, "", 0, 8, 101))
	ok := alice.resp(200)
	alice.established(d, ok)
	alice.ack(d, d.cseq)
	if b := string(ok.Body()); !strings.Contains(b, "PCMU/8000") || strings.Contains(b, "PCMA/8000") {
		t.Fatalf("answer before the bridge should settle on one codec:\n%s", b)
	}
	inv := bob.req(sip.INVITE)
	if b := string(inv.Body()); strings.Contains(b, "PCMA") {
		t.Fatalf("callee offered a codec the caller no longer sends:\n%s", b)
	}
	bob.respond(inv, 200, "bt", bob.sdpBody(1, "", 0))
	bob.req(sip.ACK)
	aPort, bPort := sdpPeer(t, ok.Body()), sdpPeer(t, inv.Body())
	alice.rtpTo(aPort, 0, 0x1, 1, 0x55, bob, bPort)
	bd := bob.incoming(inv, "bt")
	bob.hangUp(bd, alice)
	en.noLiveCalls()
	en.cdrs(2)
}

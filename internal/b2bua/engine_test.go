package b2bua

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/dialplan"
	"github.com/strowger/strowger/internal/store"

	// Every callflow module, registered for execution.
	_ "github.com/strowger/strowger/internal/callflow/modules/all"
)

// useEngine routes calls with the real dialplan and callflow engine.
func (en *env) useEngine() {
	en.t.Helper()
	plans, err := dialplan.New(en.st, en.srv.Conn, testLogger(), dialplan.Options{Clock: en.clk})
	if err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() { _ = plans.Close() })
	var r Router = FlowRouter{Plans: plans}
	en.router.Store(&r)
}

func (en *env) callflow(numbers []string, flow map[string]any) {
	en.t.Helper()
	nums := make([]any, len(numbers))
	for i, n := range numbers {
		nums[i] = n
	}
	en.create(store.TypeCallflow, store.NewID(), map[string]any{"numbers": nums, "flow": flow})
}

func node(module string, data map[string]any, children map[string]any) map[string]any {
	if children == nil {
		children = map[string]any{}
	}
	return map[string]any{"module": module, "data": data, "children": children}
}

func TestEngineBusyBranches(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.useEngine()
	// 101: ring bob; busy → "sip:486" rings carol; anything else → "_" 503.
	en.callflow([]string{"101"}, node("device", map[string]any{"id": en.devs["101"]}, map[string]any{
		"sip:486": node("device", map[string]any{"id": en.devs["102"]}, nil),
		"_":       node("response", map[string]any{"code": 503}, nil),
	}))
	// 201: ring bob; no "sip:486" child, so a busy callee takes "_".
	en.callflow([]string{"201"}, node("device", map[string]any{"id": en.devs["101"]}, map[string]any{
		"_": node("response", map[string]any{"code": 486}, nil),
	}))
	alice, bob, carol := en.registeredTrio()

	d := alice.call("101", alice.sdpBody(1, "", 0))
	inv := bob.req(sip.INVITE)
	bob.respond(inv, 486, "bt", "")
	bob.req(sip.ACK)
	cinv := carol.req(sip.INVITE)
	carol.respond(cinv, 200, "ct", carol.sdpBody(1, "", 0))
	alice.established(d, alice.resp(200))
	alice.ack(d, d.cseq)
	carol.req(sip.ACK)
	en.waitAcked(d.callID)
	alice.hangUp(d, carol)
	en.noLiveCalls()

	d2 := alice.call("201", alice.sdpBody(1, "", 0))
	inv = bob.req(sip.INVITE)
	bob.respond(inv, 486, "bt2", "")
	bob.req(sip.ACK)
	alice.ackFailure(d2, alice.resp(486))
	en.noLiveCalls()

	// Unknown number: dialplan 404.
	d3 := alice.call("999", alice.sdpBody(1, "", 0))
	alice.ackFailure(d3, alice.resp(404))
	en.noLiveCalls()
	recs := en.cdrs(6)
	if r := recs[d2.callID]; r.HangupCode != "sip:486" || r.HangupCause != "USER_BUSY" {
		t.Fatalf("busy caller CDR %+v", r)
	}
	if r := recs[d3.callID]; r.HangupCode != "sip:404" {
		t.Fatalf("no-route caller CDR %+v", r)
	}
}

func TestEngineRingGroupSimultaneousWithDelay(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.useEngine()
	en.callflow([]string{"300"}, node("ring_group", map[string]any{"strategy": "simultaneous", "timeout": 30,
		"endpoints": []any{
			map[string]any{"endpoint_type": "device", "id": en.devs["101"], "timeout": 30},
			map[string]any{"endpoint_type": "device", "id": en.devs["102"], "delay": 5, "timeout": 20},
		}}, nil))
	alice, bob, carol := en.registeredTrio()
	d := alice.call("300", alice.sdpBody(1, "", 0))
	binv := bob.ringFrom(alice, "bt")
	carol.quiet()
	en.clk.Advance(5 * time.Second)
	cinv := carol.req(sip.INVITE)
	carol.respond(cinv, 200, "ct", carol.sdpBody(1, "", 0))
	alice.established(d, alice.resp(200))
	alice.ack(d, d.cseq)
	carol.req(sip.ACK)
	bob.acceptCancel(binv, "bt")
	en.waitAcked(d.callID)
	alice.hangUp(d, carol)
	en.noLiveCalls()
	recs := en.cdrs(3)
	if r := recs[cinv.CallID().Value()]; r.RingingSeconds != 0 || r.HangupCause != "NORMAL_CLEARING" {
		t.Fatalf("delayed member CDR %+v", r)
	}
	if r := recs[d.callID]; r.RingingSeconds != 5 {
		t.Fatalf("caller rang %d s, want 5", r.RingingSeconds)
	}
}

func TestEngineRingGroupSingle(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.useEngine()
	en.callflow([]string{"301"}, node("ring_group", map[string]any{"strategy": "single", "timeout": 60,
		"endpoints": []any{
			map[string]any{"endpoint_type": "device", "id": en.devs["101"], "timeout": 10},
			map[string]any{"endpoint_type": "device", "id": en.devs["102"], "timeout": 10},
		}}, nil))
	alice, bob, carol := en.registeredTrio()
	d := alice.call("301", alice.sdpBody(1, "", 0))
	binv := bob.ringFrom(alice, "bt")
	carol.quiet()
	en.clk.Advance(10 * time.Second)
	bob.acceptCancel(binv, "bt")
	// Only after bob's attempt ended does carol ring.
	cinv := carol.req(sip.INVITE)
	carol.respond(cinv, 180, "ct", "")
	alice.resp(180) // relayed: the 180 reached the call before time moves
	en.clk.Advance(10 * time.Second)
	carol.acceptCancel(cinv, "ct")
	// Nobody answered and the flow has no "_": the caller gets 480.
	alice.ackFailure(d, alice.resp(480))
	en.noLiveCalls()
	recs := en.cdrs(3)
	for _, id := range []string{binv.CallID().Value(), cinv.CallID().Value()} {
		if r := recs[id]; r.HangupCause != "NO_ANSWER" || r.RingingSeconds != 10 {
			t.Fatalf("member CDR %+v", r)
		}
	}
}

func TestEngineUserRingsAllDevices(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.useEngine()
	// bob gets a second device (a softphone with its own SIP account).
	soft := store.NewID()
	en.devs["111"], en.pass["111"] = soft, "pw-111"
	en.create(store.TypeDevice, soft, map[string]any{"name": "bob soft", "owner_id": en.users["bob"], "enabled": true,
		"sip": map[string]any{"username": "111", "password": "pw-111", "method": "password"}})
	en.callflow([]string{"101"}, node("user", map[string]any{"id": en.users["bob"]}, nil))
	alice, desk, sp := en.phone("100"), en.phone("101"), en.phone("111")
	alice.register()
	desk.register()
	sp.register()
	d := alice.call("101", alice.sdpBody(1, "", 0))
	i1 := desk.req(sip.INVITE)
	i2 := sp.req(sip.INVITE)
	desk.respond(i1, 180, "dt", "")
	sp.respond(i2, 200, "st", sp.sdpBody(1, "", 0))
	alice.established(d, alice.resp(200))
	alice.ack(d, d.cseq)
	sp.req(sip.ACK)
	desk.acceptCancel(i1, "dt")
	en.waitAcked(d.callID)
	alice.hangUp(d, sp)
	en.noLiveCalls()
	en.cdrs(3)
}

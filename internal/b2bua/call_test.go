package b2bua

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// setupCall runs alice → 101 up to the answered, ACKed call with RTP
// flowing both ways; it returns the two dialogs.
func setupCall(t *testing.T, en *env, alice, bob *phone) (*pdialog, *pdialog) {
	t.Helper()
	d := alice.call("101", alice.sdpBody(1, "", 0, 8, 101))
	alice.resp(100)

	inv := bob.req(sip.INVITE)
	if got := inv.From().DisplayName; got != "Alice" {
		t.Errorf("caller id name %q, want the user's internal caller id Alice", got)
	}
	if got := inv.From().Address.User; got != "100" {
		t.Errorf("caller id number %q, want 100", got)
	}
	if inv.CallID().Value() == d.callID {
		t.Fatal("the callee leg reuses the caller's Call-ID")
	}
	bd := bob.incoming(inv, "bobtag")
	offer := inv.Body()
	if !strings.Contains(string(offer), "c=IN IP4 127.0.0.1") || strings.Contains(string(offer), "m=audio "+itoa(alice.rtpPort())) {
		t.Fatalf("offer to the callee is not anchored:\n%s", offer)
	}
	bob.respond(inv, 180, "bobtag", "")
	if r := alice.resp(180); r.StatusCode != 180 {
		t.Fatal("no 180")
	}
	bob.respond(inv, 200, "bobtag", bob.sdpBody(1, "", 8, 101))
	ok := alice.resp(200)
	alice.established(d, ok)
	ans := ok.Body()
	if !strings.Contains(string(ans), "PCMA/8000") || strings.Contains(string(ans), "PCMU/8000") {
		t.Fatalf("caller's answer should carry the callee's codec (PCMA) only:\n%s", ans)
	}
	alice.ack(d, d.cseq)
	bob.req(sip.ACK)
	en.waitAcked(d.callID)

	// RTP both ways through the anchored ports, payloads checked.
	aPort := sdpPeer(t, ans)
	bPort := sdpPeer(t, offer)
	if aPort == bPort || aPort.Port() == uint16(bob.rtpPort()) {
		t.Fatalf("media not anchored: caller sends to %s", aPort)
	}
	alice.rtpTo(aPort, 8, 0x1111, 100, 0xA1, bob, bPort)
	bob.rtpTo(bPort, 8, 0x2222, 500, 0xB2, alice, aPort)
	return d, bd
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestBasicCallByeFromCaller(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, bd := setupCall(t, en, alice, bob)

	chans := en.channels()
	if len(chans) != 2 {
		t.Fatalf("%d channels, want 2: %v", len(chans), chans)
	}
	byDir := map[string]map[string]any{}
	for _, c := range chans {
		byDir[c["direction"].(string)] = c
	}
	in, out := byDir["inbound"], byDir["outbound"]
	if in == nil || out == nil || in["uuid"] != d.callID || out["uuid"] != bd.callID || in["answered"] != true ||
		in["other_leg"] != bd.callID || out["other_leg"] != d.callID || in["authorizing_id"] != en.devs["100"] ||
		out["authorizing_id"] != en.devs["101"] || in["owner_id"] != en.users["alice"] || in["destination"] != "101" {
		t.Fatalf("channels: %v", chans)
	}

	alice.bye(d)
	bye := bob.req(sip.BYE)
	bob.respond(bye, 200, "", "")
	en.noLiveCalls()

	recs := en.cdrs(2)
	a, b := recs[d.callID], recs[bd.callID]
	if a.CallDirection != "inbound" || b.CallDirection != "outbound" {
		t.Fatalf("directions %q %q", a.CallDirection, b.CallDirection)
	}
	if a.InteractionID == "" || a.InteractionID != b.InteractionID || a.OtherLegCallID != bd.callID || b.OtherLegCallID != d.callID {
		t.Fatalf("legs not linked: %+v / %+v", a, b)
	}
	if a.HangupCause != "NORMAL_CLEARING" || a.HangupCode != "sip:200" || b.HangupCause != "NORMAL_CLEARING" {
		t.Fatalf("hangup %q %q / %q", a.HangupCause, a.HangupCode, b.HangupCause)
	}
	if a.CustomChannelVars["account_id"] != en.acct || a.CustomChannelVars["authorizing_id"] != en.devs["100"] ||
		a.CustomChannelVars["owner_id"] != en.users["alice"] || b.CustomChannelVars["authorizing_id"] != en.devs["101"] {
		t.Fatalf("ccvs %v / %v", a.CustomChannelVars, b.CustomChannelVars)
	}
	if a.MediaServer != "media1" || a.CallerIDNumber != "100" || b.CallerIDName != "Alice" || b.CalleeIDNumber != "101" ||
		a.Request != "101@"+realm || a.From != "100@"+realm {
		t.Fatalf("ids: %+v / %+v", a, b)
	}
}

func TestBasicCallByeFromCallee(t *testing.T) {
	t.Parallel()
	en, alice, bob := newBridgeEnv(t, nil)
	d, bd := setupCall(t, en, alice, bob)

	bob.bye(bd)
	bye := alice.req(sip.BYE)
	if bye.CallID().Value() != d.callID || tagOf(bye.From().Params) != d.remoteTag {
		t.Fatalf("BYE to the caller outside its dialog:\n%s", bye)
	}
	alice.respond(bye, 200, "", "")
	en.noLiveCalls()
	recs := en.cdrs(2)
	if recs[d.callID].HangupCause != "NORMAL_CLEARING" || recs[bd.callID].HangupCause != "NORMAL_CLEARING" {
		t.Fatalf("CDRs %+v", recs)
	}
}

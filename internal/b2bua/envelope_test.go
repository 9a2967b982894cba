package b2bua

import (
	"testing"
	"time"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/sipbus"
)

// The node answers an edge in the encoding of that edge's last envelope:
// JSON to an edge of an older release, binary to one that writes binary.
func TestEnvelopeFormatFollowsEdge(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	sub, err := en.srv.Conn.SubscribeSync(bus.EdgeNodeSIP("edge9"))
	if err != nil {
		t.Fatal(err)
	}
	bye := func(n string) []byte {
		return []byte("BYE sip:b2bua@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-fmt" + n +
			"\r\nFrom: <sip:100@b2b.test>;tag=a\r\nTo: <sip:101@b2b.test>;tag=b\r\nCall-ID: no-such-call-" + n +
			"\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	}
	ask := func(data []byte) []byte {
		t.Helper()
		if err := en.srv.Conn.Publish(bus.MediaNodeSIP("media1"), data); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(3 * time.Second)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		env, err := sipbus.Unmarshal(m.Data)
		if err != nil || env.Kind != sipbus.KindResponse {
			t.Fatalf("answer %+v: %v", env, err)
		}
		return m.Data
	}
	flow := &sipbus.Flow{Transport: "udp", Remote: "127.0.0.1:5999", Local: "127.0.0.1:5060"}
	js, _ := sipbus.Envelope{Kind: sipbus.KindRequest, Edge: "edge9", Flow: flow, Msg: bye("1")}.Marshal()
	if got := ask(js); got[0] != '{' {
		t.Fatalf("a JSON edge got %q", got[:8])
	}
	bin := sipbus.Envelope{Kind: sipbus.KindRequest, Edge: "edge9", Flow: flow, Msg: bye("2")}.AppendBinary(nil)
	if got := ask(bin); got[0] != sipbus.BinaryVersion {
		t.Fatalf("a binary edge got %q", got[:8])
	}
	// The edge was rolled back: JSON again.
	js, _ = sipbus.Envelope{Kind: sipbus.KindRequest, Edge: "edge9", Flow: flow, Msg: bye("3")}.Marshal()
	if got := ask(js); got[0] != '{' {
		t.Fatalf("a rolled-back edge got %q", got[:8])
	}
}

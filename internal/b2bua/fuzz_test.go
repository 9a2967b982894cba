package b2bua

import (
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/sipbus"
)

// FuzzInbound feeds arbitrary SIP inside an envelope through what the
// B2BUA does with every message from an edge before it reaches a call:
// decode, check, and for requests build the answer. Nothing may panic, and
// an accepted message must carry the headers the handlers read.
func FuzzInbound(f *testing.F) {
	seeds := []string{
		"INVITE sip:101@b2b.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1\r\nRecord-Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.1;lr>\r\n" +
			"From: \"A\" <sip:100@b2b.test>;tag=a\r\nTo: <sip:101@b2b.test>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:100@127.0.0.1:4000>\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"BYE sip:strowger@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=b\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\r\n",
		"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID: y\r\n\r\n",
		"garbage",
	}
	for _, s := range seeds {
		env, _ := sipbus.Envelope{Kind: sipbus.KindRequest, Edge: "edge1", Msg: []byte(s)}.Marshal()
		f.Add(env)
	}
	f.Add([]byte(`{"v":1,"kind":"response","msg":"U0lQ"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := parseInbound(data)
		if err != nil {
			return
		}
		m := msgOf(in)
		if m == nil || m.CallID() == nil || m.CSeq() == nil || m.From() == nil || m.To() == nil || m.Via() == nil {
			t.Fatalf("accepted a message without mandatory headers")
		}
		_ = topBranch(m)
		_ = stripTag(m.From().Value())
		_ = headerValues(m, "Record-Route")
		if in.req != nil {
			_ = contactURI(in.req)
			resp := buildResponse(in.req, 486, "", respOpts{toTag: "t", extra: []string{"Retry-After: 5"}})
			if !strings.HasPrefix(string(resp), "SIP/2.0 486 Busy Here\r\n") {
				t.Fatalf("bad response line: %q", resp)
			}
		}
	})
}

func TestCustomHeadersCannotBreakOut(t *testing.T) {
	got := customHeaders(map[string]string{
		"X-Account": "gold",
		"Call-ID":   "hijack",
		"X-Evil":    "a\r\nVia: SIP/2.0/UDP 6.6.6.6",
		"Bad Name":  "x",
		"X-Null":    "a\x00b",
		"i":         "compact call-id",
	})
	if len(got) != 1 || got[0] != "X-Account: gold" {
		t.Fatalf("custom headers %q", got)
	}
}

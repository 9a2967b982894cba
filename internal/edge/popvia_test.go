package edge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/sipbus"
)

const respHead = "SIP/2.0 200 OK\r\n"
const respTail = "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nabc"

func TestPopVia(t *testing.T) {
	for name, c := range map[string]struct{ in, out, top string }{
		"one value": {respHead + "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z1\r\nVia: SIP/2.0/UDP p;branch=z2\r\n" + respTail,
			respHead + "Via: SIP/2.0/UDP p;branch=z2\r\n" + respTail, "SIP/2.0/UDP 10.0.0.1:5070;branch=z1"},
		"joined": {respHead + "Via: SIP/2.0/UDP e;branch=z1 ,  SIP/2.0/UDP p;branch=z2\r\n" + respTail,
			respHead + "Via: SIP/2.0/UDP p;branch=z2\r\n" + respTail, "SIP/2.0/UDP e;branch=z1"},
		"compact, not first": {respHead + "Call-ID: x\r\nv:SIP/2.0/TCP e:5060;branch=z1\r\nV: SIP/2.0/UDP p\r\n" + respTail,
			respHead + "Call-ID: x\r\nV: SIP/2.0/UDP p\r\n" + respTail, "SIP/2.0/TCP e:5060;branch=z1"},
		"last header": {respHead + "Call-ID: c\r\nvia: SIP/2.0/UDP e\r\n\r\n", respHead + "Call-ID: c\r\n\r\n", "SIP/2.0/UDP e"},
	} {
		out, top, ok := popVia([]byte(c.in))
		if !ok || string(out) != c.out || top != c.top {
			t.Errorf("%s: ok %v top %q\n%q\nwant %q", name, ok, top, out, c.out)
		}
	}
	for name, in := range map[string]string{
		"folded":    respHead + "Via: SIP/2.0/UDP e;branch=z1,\r\n SIP/2.0/UDP p\r\n" + respTail,
		"quoted":    respHead + "Via: SIP/2.0/UDP e;x=\"a,b\"\r\n" + respTail,
		"no via":    respHead + respTail,
		"no end":    respHead + "Via: SIP/2.0/UDP e\r\n",
		"bare LF":   "SIP/2.0 200 OK\nVia: SIP/2.0/UDP e\n\n",
		"empty top": respHead + "Via: , SIP/2.0/UDP p\r\n" + respTail,
	} {
		if out, top, ok := popVia([]byte(in)); ok {
			t.Errorf("%s: accepted, top %q\n%q", name, top, out)
		}
	}
}

func TestViaSentBy(t *testing.T) {
	for in, want := range map[string]struct {
		host string
		port int
		ok   bool
	}{
		"SIP/2.0/UDP 127.0.0.1:5060;branch=z":   {"127.0.0.1", 5060, true},
		"SIP/2.0/TCP edge.example.com;branch=z": {"edge.example.com", 0, true},
		"sip/2.0/udp [::1]:5080":                {"::1", 5080, true},
		"SIP/2.0/UDP 127.0.0.1:0":               {"", 0, false},
		"SIP/2.0/UDP 127.0.0.1:99999":           {"", 0, false},
		"SIP/2.0/UDP ::1":                       {"", 0, false},
		"SIP/2.0/UDP":                           {"", 0, false},
		"SIP/2.0/UDP a b":                       {"", 0, false},
		"HTTP/1.1 a:1":                          {"", 0, false},
		"SIP/2.0/ a:1":                          {"", 0, false},
		"SIP/2.0/U2 a:1":                        {"", 0, false},
	} {
		h, p, ok := viaSentBy(in)
		if h != want.host || p != want.port || ok != want.ok {
			t.Errorf("%q: %q %d %v, want %+v", in, h, p, ok, want)
		}
	}
}

// FuzzPopVia: on a response as phoneResponse sees it (splitRaw reads a
// status line) whose Via values all have a plain shape (viaSentBy), the
// cut message has the original's Via values without the first, in order
// (RFC 3261: comma-joined values count one by one; sipgo's own removal
// drops a whole joined header when its values carry no parameters, so it
// is not the reference), and when the full parser reads the original it
// reads the cut message too.
func FuzzPopVia(f *testing.F) {
	f.Add([]byte(respHead + "Via: SIP/2.0/UDP e;branch=z1, SIP/2.0/UDP p;branch=z2\r\nVia: SIP/2.0/UDP q\r\n" + respTail))
	f.Add([]byte(respHead + "v: SIP/2.0/UDP e;branch=z1\r\nVia: SIP/2.0/UDP p;branch=z2\r\n" + respTail))
	f.Add([]byte(respHead + "Via: SIP/2.0/UDP e\r\n" + respTail))
	f.Fuzz(func(t *testing.T, data []byte) {
		before, ok := viaValues(data)
		if !ok || len(before) == 0 {
			return
		}
		out, top, ok := popVia(data)
		if !ok {
			return
		}
		after, ok := viaValues(out)
		if !ok || top != before[0] || strings.Join(after, " | ") != strings.Join(before[1:], " | ") {
			t.Fatalf("cut %q from %q: Via %q, want %q", top, data, after, before[1:])
		}
		if _, err := sip.ParseMessage(data); err != nil {
			return
		}
		if _, err := sip.ParseMessage(out); err != nil {
			t.Fatalf("cut message unparsable: %v\n%q\nfrom %q", err, out, data)
		}
	})
}

// viaValues lists the Via values of a response, one by one; ok is false
// unless it is a response whose values all have a plain shape.
func viaValues(data []byte) ([]string, bool) {
	m, ok := splitRaw(data)
	if !ok || !m.response {
		return nil, false
	}
	var out []string
	for _, v := range m.all("via") {
		for _, one := range strings.Split(v, ",") {
			one = strings.TrimSpace(one)
			if _, _, ok := viaSentBy(one); !ok {
				return nil, false
			}
			out = append(out, one)
		}
	}
	return out, true
}

// A phone's response reaches the node named in the edge's Via with that
// Via cut out, joined values included; one whose top Via is not the
// edge's goes nowhere.
func TestPhoneResponseToNode(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	m1 := en.startNode("m1", 0.1)
	u := en.udpUA()
	edgeVia := fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-se-1;%s=m1", en.e.Addr(), nodeParam)
	body := "From: <sip:2000@x>;tag=b\r\nTo: <sip:alice@x>;tag=a\r\nCall-ID: pr-1\r\nCSeq: 5 INFO\r\nContent-Length: 0\r\n\r\n"
	u.send("SIP/2.0 200 OK\r\nVia: " + edgeVia + " , SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-node\r\n" + body)
	env, msg := m1.next()
	r, ok := msg.(*sip.Response)
	if !ok || env.Kind != sipbus.KindResponse || env.CallID != "pr-1" || env.Flow == nil {
		t.Fatalf("node got %+v %v", env, msg)
	}
	if vs := r.GetHeaders("Via"); len(vs) != 1 || !strings.Contains(vs[0].Value(), "z9hG4bK-node") {
		t.Fatalf("Via at the node: %v", vs)
	}
	// The same Via naming m1 but not this edge: a stray.
	u.send("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-se-2;" + nodeParam + "=m1\r\n" +
		"Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-node\r\n" + body)
	m1.nothing()
}

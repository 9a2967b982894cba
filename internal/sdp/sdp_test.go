package sdp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/sdp"
)

func phone(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "phones", name+".sdp"))
	if err != nil {
		t.Fatal(err)
	}
	// SIP bodies use CRLF; the files are stored with LF for readability.
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func pts(cs []sdp.Codec) []uint8 {
	out := make([]uint8, len(cs))
	for i, c := range cs {
		out[i] = c.PT
	}
	return out
}

var ourSide = sdp.Local{
	Origin: sdp.Origin{Username: "strowger", SessionID: 42, Version: 7, Addr: "127.0.0.1"},
	Addr:   netip.MustParseAddr("127.0.0.1"),
	Port:   20000,
}

func TestNegotiatePhones(t *testing.T) {
	tests := []struct {
		name      string
		index     int
		pts       []uint8 // accepted, offerer's order, telephone-event last
		te        string  // answered telephone-event fmtp
		ptime     int
		remote    string
		rtcp      string
		remoteDir sdp.Direction
		localDir  sdp.Direction
	}{
		{"yealink", 0, []uint8{0, 8, 101}, "0-15", 20, "192.168.1.50:11780", "192.168.1.50:11781", sdp.SendRecv, sdp.SendRecv},
		{"polycom", 0, []uint8{8, 0, 127}, "0-15", 20, "10.0.0.21:2222", "10.0.0.21:2223", sdp.SendRecv, sdp.SendRecv},
		{"linphone", 0, []uint8{0, 8, 100}, "0-15", 20, "192.168.0.12:7078", "192.168.0.12:7079", sdp.SendRecv, sdp.SendRecv},
		{"baresip", 0, []uint8{0, 8, 101}, "0-15", 20, "127.0.0.1:10004", "127.0.0.1:10005", sdp.SendRecv, sdp.SendRecv},
		{"zoiper", 0, []uint8{0, 8, 101}, "0-16", 20, "192.168.1.100:8000", "192.168.1.100:8001", sdp.SendRecv, sdp.SendRecv},
		{"sipp", 0, []uint8{0}, "", 20, "127.0.0.1:6000", "127.0.0.1:6001", sdp.SendRecv, sdp.SendRecv},
		{"rtpengine", 0, []uint8{8, 0, 101}, "0-16", 20, "203.0.113.10:30000", "203.0.113.10:30001", sdp.SendRecv, sdp.SendRecv},
		{"hold-rfc2543", 0, []uint8{0, 101}, "0-15", 20, "0.0.0.0:11780", "0.0.0.0:11781", sdp.SendOnly, sdp.RecvOnly},
		{"hold-sendonly", 0, []uint8{0, 127}, "0-15", 20, "10.0.0.21:2222", "10.0.0.21:2223", sdp.SendOnly, sdp.RecvOnly},
		{"audio-video-ipv6", 1, []uint8{8, 0, 126}, "0-15", 30, "[2001:db8::5]:5006", "[2001:db8::5]:5007", sdp.RecvOnly, sdp.SendOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			offer, err := sdp.Parse(phone(t, tc.name))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			n, err := sdp.Negotiate(offer, sdp.Options{})
			if err != nil {
				t.Fatalf("negotiate: %v", err)
			}
			if n.Index != tc.index || !slices.Equal(pts(n.Codecs), tc.pts) || !slices.Equal(pts(n.RecvCodecs), tc.pts) {
				t.Fatalf("index %d codecs %v recv %v, want %d %v", n.Index, pts(n.Codecs), pts(n.RecvCodecs), tc.index, tc.pts)
			}
			te, ok := n.TelephoneEvent()
			if ok != (tc.te != "") || te.Fmtp != tc.te {
				t.Fatalf("telephone-event %+v %v, want fmtp %q", te, ok, tc.te)
			}
			if n.Ptime != tc.ptime || n.Remote.String() != tc.remote || n.RemoteRTCP.String() != tc.rtcp {
				t.Fatalf("ptime %d remote %s rtcp %s", n.Ptime, n.Remote, n.RemoteRTCP)
			}
			if n.RemoteDirection != tc.remoteDir || n.LocalDirection != tc.localDir {
				t.Fatalf("directions remote %s local %s", n.RemoteDirection, n.LocalDirection)
			}
			if n.Audio().PT != tc.pts[0] {
				t.Fatalf("audio %+v", n.Audio())
			}
			body, err := sdp.Answer(ourSide, offer, n)
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			ans, err := sdp.Parse(body)
			if err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, body)
			}
			if len(ans.Media) != len(offer.Media) {
				t.Fatalf("answer has %d m= lines, offer %d", len(ans.Media), len(offer.Media))
			}
			for i, m := range ans.Media {
				if m.Kind != offer.Media[i].Kind {
					t.Fatalf("line %d kind %s, offered %s", i, m.Kind, offer.Media[i].Kind)
				}
				if i != n.Index && m.Port != 0 {
					t.Fatalf("line %d not rejected", i)
				}
			}
			am := ans.Media[n.Index]
			if am.Port != ourSide.Port || am.Direction != tc.localDir || !slices.Equal(pts(am.Codecs), tc.pts) {
				t.Fatalf("answer line %+v\n%s", am, body)
			}
			if ans.Origin != ourSide.Origin {
				t.Fatalf("origin %+v", ans.Origin)
			}
			// The offerer's side of the exchange must accept our answer too.
			back, err := sdp.NegotiateAnswer(offer.Media[n.Index].Codecs, offer.Media[n.Index].Direction, onlyLine(ans, n.Index))
			if err != nil {
				t.Fatalf("offerer would refuse our answer: %v\n%s", err, body)
			}
			if !slices.Equal(pts(back.Codecs), tc.pts) {
				t.Fatalf("offerer sees %v", pts(back.Codecs))
			}
		})
	}
}

func onlyLine(s *sdp.Session, i int) *sdp.Session {
	c := *s
	c.Media = []sdp.Media{s.Media[i]}
	return &c
}

func TestRejectedLinesKeepOrder(t *testing.T) {
	offer, err := sdp.Parse(phone(t, "linphone"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := sdp.Negotiate(offer, sdp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := sdp.Answer(ourSide, offer, n)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("m=video 0 RTP/AVP 102\r\n")) {
		t.Fatalf("video not rejected in place:\n%s", body)
	}
	if bytes.Index(body, []byte("m=audio 20000")) > bytes.Index(body, []byte("m=video 0")) {
		t.Fatalf("order changed:\n%s", body)
	}
}

func TestErrors(t *testing.T) {
	valid := string(phone(t, "sipp"))
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"empty", "", 400},
		{"garbage", "hello world", 400},
		{"no version", strings.Replace(valid, "v=0\r\n", "", 1), 400},
		{"bad version", strings.Replace(valid, "v=0", "v=1", 1), 400},
		{"nul byte", strings.Replace(valid, "s=-", "s=\x00", 1), 400},
		{"blank line inside", strings.Replace(valid, "t=0 0\r\n", "t=0 0\r\n\r\n", 1), 400},
		{"bad port", strings.Replace(valid, "6000", "70000", 1), 400},
		{"no c line", strings.Replace(valid, "c=IN IP4 127.0.0.1\r\n", "", 1), 400},
		{"bad pt", strings.Replace(valid, "RTP/AVP 0", "RTP/AVP 0 x", 1), 400},
		{"pt too big", strings.Replace(valid, "RTP/AVP 0", "RTP/AVP 0 200", 1), 400},
		{"duplicate pt", strings.Replace(valid, "RTP/AVP 0", "RTP/AVP 0 0", 1), 400},
		{"bad rtpmap", valid + "a=rtpmap:0 PCMU\r\n", 400},
		{"bad ptime", valid + "a=ptime:abc\r\n", 400},
		{"conflicting direction", valid + "a=sendonly\r\na=recvonly\r\n", 400},
		{"bad rtcp", valid + "a=rtcp:abc\r\n", 400},
		{"ip4 with v6 address", strings.Replace(valid, "c=IN IP4 127.0.0.1", "c=IN IP4 ::1", 1), 400},
		{"oversized", valid + strings.Repeat("a=x-pad:"+strings.Repeat("y", 100)+"\r\n", 700), 400},
		{"g729 only", string(phone(t, "g729-only")), 488},
		{"srtp only", string(phone(t, "srtp-only")), 488},
		{"fax only", string(phone(t, "t38-reinvite")), 488},
		{"audio disabled", strings.Replace(valid, "m=audio 6000", "m=audio 0", 1), 488},
		{"fqdn address", strings.Replace(valid, "c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.com", 1), 488},
		{"multicast", strings.Replace(valid, "c=IN IP4 127.0.0.1", "c=IN IP4 224.2.1.1/127", 1), 488},
		{"port range", strings.Replace(valid, "m=audio 6000", "m=audio 6000/2", 1), 488},
		{"no media", strings.Replace(valid, "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", "", 1), 488},
		{"pcmu stereo", strings.Replace(valid, "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000/2", 1), 488},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sdp.Parse([]byte(tc.body))
			if err == nil {
				_, err = sdp.Negotiate(s, sdp.Options{})
			}
			if got := sdp.StatusCode(err); got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
			var se *sdp.Error
			if !errors.As(err, &se) || se.Reason == "" {
				t.Fatalf("error %v is not an *sdp.Error with a reason", err)
			}
		})
	}
}

func TestNegotiateAllow(t *testing.T) {
	offer, err := sdp.Parse(phone(t, "yealink"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := sdp.Negotiate(offer, sdp.Options{Allow: []string{"pcma"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pts(n.Codecs), []uint8{8, 101}) {
		t.Fatalf("codecs %v", pts(n.Codecs))
	}
	if _, err := sdp.Negotiate(offer, sdp.Options{Allow: []string{}}); sdp.StatusCode(err) != 488 {
		t.Fatalf("empty allow list: %v", err)
	}
}

func TestAnswerDirection(t *testing.T) {
	tests := []struct{ offered, local, want sdp.Direction }{
		{sdp.SendRecv, sdp.SendRecv, sdp.SendRecv},
		{sdp.SendOnly, sdp.SendRecv, sdp.RecvOnly},
		{sdp.RecvOnly, sdp.SendRecv, sdp.SendOnly},
		{sdp.Inactive, sdp.SendRecv, sdp.Inactive},
		{sdp.SendRecv, sdp.SendOnly, sdp.SendOnly},
		{sdp.SendRecv, sdp.Inactive, sdp.Inactive},
		{sdp.SendOnly, sdp.SendOnly, sdp.Inactive},
		{sdp.RecvOnly, sdp.RecvOnly, sdp.Inactive},
	}
	for _, tc := range tests {
		if got := sdp.AnswerDirection(tc.offered, tc.local); got != tc.want {
			t.Errorf("AnswerDirection(%s, %s) = %s, want %s", tc.offered, tc.local, got, tc.want)
		}
	}
	for d := sdp.SendRecv; d <= sdp.Inactive; d++ {
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back sdp.Direction
		if err := back.UnmarshalText(b); err != nil || back != d || d.Reverse().Reverse() != d {
			t.Fatalf("%s round trip: %s %v", d, back, err)
		}
	}
}

func TestOfferAndReoffer(t *testing.T) {
	l := sdp.Local{Origin: sdp.NewOrigin(netip.MustParseAddr("127.0.0.1")), Addr: netip.MustParseAddr("127.0.0.1"), Port: 30000, RTCPPort: 30011}
	first, err := sdp.Offer(l, sdp.DefaultCodecs(), sdp.SendRecv, 20)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := sdp.Parse(first)
	if err != nil {
		t.Fatalf("%v\n%s", err, first)
	}
	if !bytes.Contains(first, []byte("a=rtcp:30011\r\n")) || s1.Media[0].RTCP.Port() != 30011 {
		t.Fatalf("a=rtcp missing:\n%s", first)
	}
	if !bytes.Contains(first, []byte("a=fmtp:101 0-16\r\n")) || !bytes.Contains(first, []byte("a=ptime:20\r\n")) {
		t.Fatalf("offer:\n%s", first)
	}
	l.Origin = l.Origin.Next()
	hold, err := sdp.Offer(l, sdp.DefaultCodecs(), sdp.SendOnly, 20)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := sdp.Parse(hold)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Origin.SessionID != s1.Origin.SessionID || s2.Origin.Version != s1.Origin.Version+1 || !s2.Origin.Changed(s1.Origin) {
		t.Fatalf("re-offer origin %+v after %+v", s2.Origin, s1.Origin)
	}
	if s2.Media[0].Direction != sdp.SendOnly {
		t.Fatalf("hold direction %s", s2.Media[0].Direction)
	}
	// RTCP on port+1 is not announced.
	l.RTCPPort = 30001
	plain, _ := sdp.Offer(l, sdp.DefaultCodecs(), sdp.SendRecv, 20)
	if bytes.Contains(plain, []byte("a=rtcp:")) {
		t.Fatalf("a=rtcp for port+1:\n%s", plain)
	}
}

func TestNegotiateAnswerRenumbered(t *testing.T) {
	answer := "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n"
	s, err := sdp.Parse([]byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	n, err := sdp.NegotiateAnswer(sdp.DefaultCodecs(), sdp.SendRecv, s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pts(n.Codecs), []uint8{8, 96}) || !slices.Equal(pts(n.RecvCodecs), []uint8{8, 101}) {
		t.Fatalf("send %v recv %v", pts(n.Codecs), pts(n.RecvCodecs))
	}
	bad := strings.Replace(answer, "RTP/AVP 8 96", "RTP/AVP 18", 1)
	s, _ = sdp.Parse([]byte(bad))
	if _, err := sdp.NegotiateAnswer(sdp.DefaultCodecs(), sdp.SendRecv, s); sdp.StatusCode(err) != 488 {
		t.Fatalf("answer with a codec we did not offer: %v", err)
	}
	held := answer + "a=sendonly\r\n"
	s, _ = sdp.Parse([]byte(held))
	if _, err := sdp.NegotiateAnswer(sdp.DefaultCodecs(), sdp.SendOnly, s); sdp.StatusCode(err) != 488 {
		t.Fatalf("sendonly answer to a sendonly offer: %v", err)
	}
}

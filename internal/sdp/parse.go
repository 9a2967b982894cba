package sdp

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	pionsdp "github.com/pion/sdp/v3"
)

// Limits that keep a hostile body from costing more than a real one.
const (
	// MaxSize is the largest SDP body accepted; WebRTC offers with many
	// candidates stay well under it.
	MaxSize = 64 << 10
	// MaxMedia is the largest number of m= lines accepted.
	MaxMedia = 32
	// maxFormats bounds the formats on one m= line (there are only 128 PTs).
	maxFormats = 128
)

// Codec names as they appear in a=rtpmap, in the spelling we emit.
const (
	PCMU           = "PCMU"
	PCMA           = "PCMA"
	TelephoneEvent = "telephone-event"
)

// Codec is one RTP payload format of a stream.
type Codec struct {
	PT        uint8  `json:"pt"`
	Name      string `json:"name"` // encoding name; case as the author wrote it
	ClockRate uint32 `json:"rate"`
	Channels  uint8  `json:"channels,omitempty"` // 0 when the rtpmap leaves it out (mono)
	Fmtp      string `json:"fmtp,omitempty"`
}

// Is reports whether c is the encoding name at the clock rate (names are
// case-insensitive, RFC 4855 §3).
func (c Codec) Is(name string, rate uint32) bool {
	return strings.EqualFold(c.Name, name) && c.ClockRate == rate && c.Channels <= 1
}

// Origin is the o= line. A session keeps SessionID for its whole life and
// increments Version each time it sends a changed SDP (RFC 3264 §8).
type Origin struct {
	Username  string `json:"username"`
	SessionID uint64 `json:"session_id"`
	Version   uint64 `json:"version"`
	Addr      string `json:"addr"`
}

// Next is the origin of the next re-offer or changed answer: same session
// id, version + 1.
func (o Origin) Next() Origin {
	o.Version++
	return o
}

// Changed reports whether o, received after prev from the same party, marks
// a changed session description; an unchanged version is a session refresh
// (RFC 3264 §8) that must not alter the media.
func (o Origin) Changed(prev Origin) bool {
	return o.SessionID != prev.SessionID || o.Version != prev.Version
}

// Media is one m= line with its effective attributes (media-level over
// session-level, defaults applied).
type Media struct {
	Kind    string   // audio, video, image, ...
	Port    int      // 0 for a rejected or disabled stream
	Proto   string   // RTP/AVP, RTP/SAVP, udptl, ...
	Formats []string // the fmt list, as written
	// Codecs are the RTP payload formats we could identify (static types
	// and rtpmap entries), in the author's preference order.
	Codecs    []Codec
	Addr      netip.Addr     // connection address; invalid if none usable
	RTCP      netip.AddrPort // where the author wants RTCP (a=rtcp or port+1)
	Ptime     int            // ms; 0 if absent
	Direction Direction      // declared direction, c=0.0.0.0 hold folded in
	// HoldAddr reports the RFC 2543 hold form, c=0.0.0.0.
	HoldAddr bool
	// Bundle-style port ranges (m=audio 49170/2) are marked so negotiation
	// can refuse them.
	PortCount int
}

// RTP returns the address the author receives RTP on.
func (m *Media) RTP() netip.AddrPort { return netip.AddrPortFrom(m.Addr, uint16(m.Port)) }

// Session is a parsed SDP body.
type Session struct {
	Origin Origin
	Name   string
	Media  []Media
}

// Media types and protocol tokens that pion/sdp accepts on an m= line. Other
// valid ones (m=image ... udptl t38 for fax) are renamed before pion sees
// them and restored after, so they can be answered with port 0 instead of
// failing the whole body.
var pionMedia = map[string]bool{"audio": true, "video": true, "text": true, "application": true, "message": true}

var pionProtoTokens = map[string]bool{
	"UDP": true, "RTP": true, "AVP": true, "SAVP": true, "SAVPF": true, "TLS": true, "DTLS": true,
	"SCTP": true, "AVPF": true, "TCP": true, "MSRP": true, "BFCP": true, "UDT": true, "IX": true,
	"MRCPv2": true, "FEC": true,
}

type mline struct {
	line        int // 1-based line number in the body
	kind, proto string
}

// Parse reads an SDP body strictly. Errors match ErrMalformed (answer 400)
// or ErrNotAcceptable (answer 488).
func Parse(body []byte) (*Session, error) {
	if len(body) == 0 {
		return nil, malformed(0, "empty body", nil)
	}
	if len(body) > MaxSize {
		return nil, malformed(0, fmt.Sprintf("body of %d bytes exceeds %d", len(body), MaxSize), nil)
	}
	norm, mlines, err := normalize(body)
	if err != nil {
		return nil, err
	}
	var pd pionsdp.SessionDescription
	if err := pd.UnmarshalString(norm); err != nil {
		return nil, malformed(0, "syntax", err)
	}
	if len(pd.MediaDescriptions) != len(mlines) {
		return nil, malformed(0, "media lines lost in parsing", nil)
	}
	if pd.Version != 0 {
		return nil, malformed(1, "v= must be 0", nil)
	}
	s := &Session{
		Origin: Origin{
			Username:  pd.Origin.Username,
			SessionID: pd.Origin.SessionID,
			Version:   pd.Origin.SessionVersion,
			Addr:      pd.Origin.UnicastAddress,
		},
		Name: string(pd.SessionName),
	}
	sessAddr, sessHold, err := connAddr(pd.ConnectionInformation)
	if err != nil {
		return nil, malformed(0, "session c=", err)
	}
	sessDir, err := directionOf(pd.Attributes)
	if err != nil {
		return nil, malformed(0, "session attributes", err)
	}
	for i, md := range pd.MediaDescriptions {
		m, err := parseMedia(md, mlines[i], sessAddr, sessHold, pd.ConnectionInformation != nil, sessDir)
		if err != nil {
			return nil, err
		}
		s.Media = append(s.Media, m)
	}
	return s, nil
}

// normalize checks the line structure pion is lenient about, renames m=
// lines pion would reject, and returns CRLF-terminated text.
func normalize(body []byte) (string, []mline, error) {
	var b strings.Builder
	b.Grow(len(body) + 64)
	var mlines []mline
	text := body
	n := 0
	for len(text) > 0 {
		n++
		var line []byte
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			// A blank line is tolerated only as the body's trailing newline(s).
			if len(bytes.TrimLeft(text, "\r\n")) == 0 {
				break
			}
			return "", nil, malformed(n, "empty line", nil)
		}
		for _, c := range line {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return "", nil, malformed(n, fmt.Sprintf("control character 0x%02x", c), nil)
			}
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return "", nil, malformed(n, "not a <type>=<value> line", nil)
		}
		if line[0] == 'm' {
			if len(mlines) == MaxMedia {
				return "", nil, malformed(n, fmt.Sprintf("more than %d media lines", MaxMedia), nil)
			}
			fields := strings.Fields(string(line[2:]))
			if len(fields) < 4 {
				return "", nil, malformed(n, "m= needs media, port, proto and at least one format", nil)
			}
			if len(fields)-3 > maxFormats {
				return "", nil, malformed(n, "too many formats", nil)
			}
			ml := mline{line: n, kind: fields[0], proto: fields[2]}
			mlines = append(mlines, ml)
			if !pionMedia[fields[0]] || !protoKnown(fields[2]) {
				if !token(fields[0]) || !token(fields[2]) {
					return "", nil, malformed(n, "bad media or proto token", nil)
				}
				fields[0], fields[2] = "application", "UDP"
				line = []byte("m=" + strings.Join(fields, " "))
			}
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.String(), mlines, nil
}

func protoKnown(p string) bool {
	for t := range strings.SplitSeq(p, "/") {
		if !pionProtoTokens[t] {
			return false
		}
	}
	return true
}

// token reports whether s is an RFC 4566 token (with '/' allowed for protos).
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("\"(),:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// connAddr reads a c= line. A non-IP address (an FQDN, allowed by SDP) comes
// back invalid: the stream is then unusable rather than the body malformed.
func connAddr(ci *pionsdp.ConnectionInformation) (netip.Addr, bool, error) {
	if ci == nil {
		return netip.Addr{}, false, nil
	}
	if ci.Address == nil || ci.Address.Address == "" {
		return netip.Addr{}, false, fmt.Errorf("missing address")
	}
	a := ci.Address.Address
	if i := strings.IndexByte(a, '/'); i >= 0 {
		a = a[:i] // multicast TTL/count: the address is refused below
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Addr{}, false, nil
	}
	if (ci.AddressType == "IP4") != ip.Is4() {
		return netip.Addr{}, false, fmt.Errorf("address %s does not match %s", a, ci.AddressType)
	}
	if ip.IsUnspecified() {
		return ip, true, nil
	}
	if ip.IsMulticast() || ip.Zone() != "" {
		return netip.Addr{}, false, nil
	}
	return ip, false, nil
}

func directionOf(attrs []pionsdp.Attribute) (Direction, error) {
	d, found := SendRecv, false
	for _, a := range attrs {
		if v, err := ParseDirection(a.Key); err == nil {
			if a.Value != "" {
				return 0, fmt.Errorf("a=%s takes no value", a.Key)
			}
			if found && v != d {
				return 0, fmt.Errorf("conflicting direction attributes %s and %s", d, v)
			}
			d, found = v, true
		}
	}
	return d, nil
}

func hasDirection(attrs []pionsdp.Attribute) bool {
	for _, a := range attrs {
		if _, err := ParseDirection(a.Key); err == nil {
			return true
		}
	}
	return false
}

func isRTP(proto string) bool { return strings.HasPrefix(proto, "RTP/") }

func parseMedia(md *pionsdp.MediaDescription, ml mline, sessAddr netip.Addr, sessHold, sessConn bool, sessDir Direction) (Media, error) {
	m := Media{
		Kind:      ml.kind,
		Port:      md.MediaName.Port.Value,
		Proto:     ml.proto,
		Formats:   md.MediaName.Formats,
		Addr:      sessAddr,
		HoldAddr:  sessHold,
		Direction: sessDir,
		PortCount: 1,
	}
	if md.MediaName.Port.Range != nil {
		m.PortCount = *md.MediaName.Port.Range
		if m.PortCount < 1 {
			return m, malformed(ml.line, "bad port count", nil)
		}
	}
	if md.ConnectionInformation != nil {
		a, hold, err := connAddr(md.ConnectionInformation)
		if err != nil {
			return m, malformed(ml.line, "media c=", err)
		}
		m.Addr, m.HoldAddr = a, hold
	} else if !sessConn && m.Port != 0 {
		return m, malformed(ml.line, "no c= line for an active stream", nil)
	}
	if hasDirection(md.Attributes) {
		d, err := directionOf(md.Attributes)
		if err != nil {
			return m, malformed(ml.line, "media attributes", err)
		}
		m.Direction = d
	}
	if m.HoldAddr {
		// RFC 3264 §8.4: c=0.0.0.0 means "do not send to me".
		m.Direction = makeDirection(m.Direction.Sends(), false)
	}
	for _, a := range md.Attributes {
		if a.Key == "ptime" {
			p, err := strconv.Atoi(strings.TrimSpace(a.Value))
			if err != nil || p <= 0 || p > 1000 {
				return m, malformed(ml.line, "bad a=ptime "+strconv.Quote(a.Value), nil)
			}
			m.Ptime = p
		}
	}
	if m.Port > 0 {
		rtcp, err := rtcpAddr(md, m.Addr, m.Port)
		if err != nil {
			return m, malformed(ml.line, "a=rtcp", err)
		}
		m.RTCP = rtcp
	}
	if !isRTP(m.Proto) {
		return m, nil
	}
	codecs, err := rtpCodecs(md, ml.line)
	if err != nil {
		return m, err
	}
	m.Codecs = codecs
	return m, nil
}

// rtcpAddr applies RFC 3605: a=rtcp:<port> [IN IP4 <addr>], else port+1.
func rtcpAddr(md *pionsdp.MediaDescription, addr netip.Addr, port int) (netip.AddrPort, error) {
	v, ok := md.Attribute("rtcp")
	if !ok {
		if port == 65535 {
			return netip.AddrPort{}, nil
		}
		return netip.AddrPortFrom(addr, uint16(port+1)), nil
	}
	f := strings.Fields(v)
	if len(f) != 1 && len(f) != 4 {
		return netip.AddrPort{}, fmt.Errorf("want <port> [IN IP4|IP6 <addr>], got %q", v)
	}
	p, err := strconv.ParseUint(f[0], 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", f[0])
	}
	if len(f) == 4 {
		if f[1] != "IN" || (f[2] != "IP4" && f[2] != "IP6") {
			return netip.AddrPort{}, fmt.Errorf("bad address type %q", v)
		}
		ip, err := netip.ParseAddr(f[3])
		if err != nil {
			return netip.AddrPort{}, nil // an FQDN: RTCP goes nowhere until latched
		}
		addr = ip
	}
	return netip.AddrPortFrom(addr, uint16(p)), nil
}

// rtpCodecs resolves the fmt list of an RTP stream with a=rtpmap and a=fmtp.
func rtpCodecs(md *pionsdp.MediaDescription, line int) ([]Codec, error) {
	type entry struct {
		codec  Codec
		mapped bool
	}
	byPT := make(map[uint8]*entry, len(md.MediaName.Formats))
	order := make([]uint8, 0, len(md.MediaName.Formats))
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil || pt > 127 {
			return nil, malformed(line, "RTP format "+strconv.Quote(f)+" is not a payload type", nil)
		}
		if byPT[uint8(pt)] != nil {
			return nil, malformed(line, "payload type "+f+" listed twice", nil)
		}
		e := &entry{codec: Codec{PT: uint8(pt)}}
		switch pt {
		case 0:
			e.codec.Name, e.codec.ClockRate, e.mapped = PCMU, 8000, true
		case 8:
			e.codec.Name, e.codec.ClockRate, e.mapped = PCMA, 8000, true
		}
		byPT[uint8(pt)] = e
		order = append(order, uint8(pt))
	}
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			pt, rest, err := ptValue(a.Value)
			if err != nil {
				return nil, malformed(line, "a=rtpmap", err)
			}
			e := byPT[pt]
			if e == nil {
				continue // rtpmap for a format not offered: ignored (RFC 4566 is silent)
			}
			c, err := parseRtpmap(rest)
			if err != nil {
				return nil, malformed(line, "a=rtpmap:"+strconv.Itoa(int(pt)), err)
			}
			c.PT = pt
			c.Fmtp = e.codec.Fmtp
			e.codec, e.mapped = c, true
		case "fmtp":
			pt, rest, err := ptValue(a.Value)
			if err != nil {
				return nil, malformed(line, "a=fmtp", err)
			}
			if e := byPT[pt]; e != nil {
				e.codec.Fmtp = strings.TrimSpace(rest)
			}
		}
	}
	out := make([]Codec, 0, len(order))
	for _, pt := range order {
		if e := byPT[pt]; e.mapped {
			out = append(out, e.codec)
		}
	}
	return out, nil
}

func ptValue(v string) (uint8, string, error) {
	head, rest, _ := strings.Cut(v, " ")
	pt, err := strconv.ParseUint(head, 10, 8)
	if err != nil || pt > 127 {
		return 0, "", fmt.Errorf("bad payload type %q", head)
	}
	return uint8(pt), rest, nil
}

// parseRtpmap reads "<name>/<rate>[/<channels>]".
func parseRtpmap(s string) (Codec, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 || !token(parts[0]) {
		return Codec{}, fmt.Errorf("want <encoding>/<rate>[/<channels>], got %q", s)
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 {
		return Codec{}, fmt.Errorf("bad clock rate %q", parts[1])
	}
	c := Codec{Name: parts[0], ClockRate: uint32(rate)}
	if len(parts) == 3 {
		ch, err := strconv.ParseUint(parts[2], 10, 8)
		if err != nil || ch == 0 {
			return Codec{}, fmt.Errorf("bad channel count %q", parts[2])
		}
		c.Channels = uint8(ch)
	}
	return c, nil
}

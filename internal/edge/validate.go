package edge

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// supportedOptions are the option tags the edge itself implements; any
// other tag in Proxy-Require (and, for requests the edge answers itself, in
// Require) is refused with 420 (RFC 3261 §8.2.2.3, §16.3).
var supportedOptions = map[string]bool{"path": true}

// sdpTypes are the bodies the edge lets through on session requests: what
// the media nodes understand.
var sdpTypes = map[string]bool{
	"application/sdp": true, "multipart/mixed": true, "multipart/alternative": true,
	"multipart/related": true,
}

// sessionMethods carry SDP offers and answers.
var sessionMethods = map[string]bool{"INVITE": true, "ACK": true, "UPDATE": true, "PRACK": true}

// singleHeaders may appear once only (RFC 3261 §7.3.1: they are not lists).
var singleHeaders = []string{"from", "to", "call-id", "cseq", "max-forwards", "content-length", "content-type"}

// verdict is what validation decided: a request to go on with, a response
// to send, or silence.
type verdict struct {
	req  *sip.Request
	resp *response
	drop bool
}

func reject(code int, reason string, extra ...string) verdict {
	return verdict{resp: &response{code: code, reason: reason, extra: extra}}
}

// validate applies RFC 3261 and RFC 4475 rules to a request. stream tells
// whether it came over TCP (framing already checked Content-Length).
func validate(m *rawMsg, data []byte, stream bool) verdict {
	if _, ok := m.get("via"); !ok {
		// No Via: no response could be matched by the sender; say nothing.
		return verdict{drop: true}
	}
	if !m.complete {
		return reject(400, "Bad Request")
	}
	if m.parts != 3 || m.ruri == "" || m.version == "" {
		return reject(400, "Bad Request Line")
	}
	if m.version != "SIP/2.0" {
		if strings.HasPrefix(m.version, "SIP/") {
			return reject(505, "Version Not Supported")
		}
		return reject(400, "Bad Request Line")
	}
	scheme, _, hasColon := strings.Cut(m.ruri, ":")
	if !hasColon || !isScheme(scheme) {
		return reject(400, "Bad Request-URI")
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel":
	default:
		return reject(416, "Unsupported URI Scheme")
	}
	for _, name := range []string{"from", "to", "call-id", "cseq"} {
		if _, ok := m.get(name); !ok {
			return reject(400, "Missing "+canonicalHeader(name))
		}
	}
	for _, name := range singleHeaders {
		if m.count(name) > 1 {
			return reject(400, "Multiple "+canonicalHeader(name))
		}
	}
	for _, h := range m.headers {
		if h.name == "" {
			return reject(400, "Bad Header")
		}
	}
	bodyLen := len(m.body)
	if v, ok := m.get("content-length"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return reject(400, "Bad Content-Length")
		}
		// A datagram may carry trailing octets past Content-Length (RFC 4475
		// §3.1.1.8); a body shorter than announced is an error.
		if n > len(m.body) {
			return reject(400, "Content-Length Mismatch")
		}
		bodyLen = n
	} else if stream {
		return reject(400, "Missing Content-Length")
	}
	cseqV, _ := m.get("cseq")
	_, cseqMethod, ok := cseqOf(cseqV)
	if !ok {
		return reject(400, "Bad CSeq")
	}
	if cseqMethod != m.method {
		return reject(400, "CSeq Method Mismatch")
	}
	maxFwd := -1
	if v, ok := m.get("max-forwards"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 255 {
			return reject(400, "Bad Max-Forwards")
		}
		maxFwd = n
	}
	if v, ok := m.get("date"); ok && !strings.HasSuffix(strings.TrimSpace(v), " GMT") {
		return reject(400, "Bad Date")
	}
	hostPart := m.ruri
	if i := strings.LastIndexByte(hostPart, '@'); i >= 0 {
		hostPart = hostPart[i+1:]
	}
	if strings.Contains(hostPart, "?") {
		// Headers in a Request-URI are not allowed (RFC 3261 §19.1.5 table).
		return reject(400, "Bad Request-URI")
	}
	for _, name := range []string{"from", "to", "contact"} {
		for _, v := range m.all(name) {
			if !addrSane(v) {
				return reject(400, "Bad "+canonicalHeader(name))
			}
		}
	}
	headLen := len(data) - len(m.body)
	msg, err := sip.ParseMessage(data[:headLen+bodyLen])
	if err != nil {
		return reject(400, "Bad Request")
	}
	req, isReq := msg.(*sip.Request)
	if !isReq {
		return verdict{drop: true}
	}
	if req.Via() == nil || req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return reject(400, "Bad Request")
	}
	if unsup := unsupported(m.all("proxy-require")); len(unsup) > 0 {
		return reject(420, "Bad Extension", "Unsupported: "+strings.Join(unsup, ", "))
	}
	if m.method == "REGISTER" || m.method == "OPTIONS" {
		if unsup := unsupported(m.all("require")); len(unsup) > 0 {
			return reject(420, "Bad Extension", "Unsupported: "+strings.Join(unsup, ", "))
		}
	}
	if bodyLen > 0 {
		ct, ok := m.get("content-type")
		if !ok {
			return reject(400, "Missing Content-Type")
		}
		mt := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
		if sessionMethods[m.method] && !sdpTypes[mt] {
			return reject(415, "Unsupported Media Type", "Accept: application/sdp")
		}
	}
	if m.method == "INVITE" {
		if acc, ok := m.get("accept"); ok && !acceptsSDP(acc) {
			return reject(406, "Not Acceptable", "Accept: application/sdp")
		}
	}
	if maxFwd == 0 {
		return reject(483, "Too Many Hops")
	}
	return verdict{req: req}
}

func canonicalHeader(name string) string {
	switch name {
	case "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	}
	parts := strings.Split(name, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

func isScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// addrSane catches what the lenient parser lets through in name-addr and
// addr-spec values: unbalanced quotes, an addr-spec carrying URI headers
// ('?') without the <> that RFC 3261 §20 requires, and unbalanced <>.
func addrSane(v string) bool {
	quotes := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			quotes++
		}
	}
	if quotes%2 != 0 {
		return false
	}
	lt, gt := strings.Count(v, "<"), strings.Count(v, ">")
	if lt != gt {
		return false
	}
	if lt == 0 && strings.Contains(v, "?") {
		return false
	}
	return true
}

func unsupported(values []string) []string {
	var out []string
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag != "" && !supportedOptions[strings.ToLower(tag)] {
				out = append(out, tag)
			}
		}
	}
	return out
}

func acceptsSDP(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, t := range strings.Split(accept, ",") {
		mt := strings.ToLower(strings.TrimSpace(strings.SplitN(t, ";", 2)[0]))
		if mt == "application/sdp" || mt == "application/*" || mt == "*/*" {
			return true
		}
	}
	return false
}

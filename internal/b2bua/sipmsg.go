package b2bua

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Messages are built as text and parsed with sipgo's parser where they are
// read: the B2BUA only ever needs a handful of headers, and text keeps the
// exact header values (tags, route sets) we echo.

// randHex returns n random bytes in hex.
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func newTag() string    { return randHex(8) }
func newBranch() string { return "z9hG4bK-sb-" + randHex(10) }
func newCallID() string { return randHex(16) + "@strowger" }

// reasonPhrase is the standard phrase of the codes the B2BUA sends.
func reasonPhrase(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 420:
		return "Bad Extension"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	switch code / 100 {
	case 1:
		return "Session Progress"
	case 2:
		return "OK"
	case 4:
		return "Client Error"
	case 5:
		return "Server Error"
	}
	return "Failure"
}

// respOpts are the parts of a response beyond the status line.
type respOpts struct {
	toTag   string   // added to To when it has none
	contact string   // Contact URI (dialog-creating responses)
	sdp     []byte   // body, application/sdp
	extra   []string // whole header lines
}

// buildResponse answers req: Via, From, To, Call-ID and CSeq copied, and
// Record-Route copied for responses that establish a dialog (RFC 3261
// §12.1.1).
func buildResponse(req *sip.Request, code int, reason string, o respOpts) []byte {
	if reason == "" {
		reason = reasonPhrase(code)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range req.GetHeaders("Via") {
		b.WriteString("Via: " + h.Value() + "\r\n")
	}
	if code > 100 && code < 300 && req.Method != sip.ACK && req.Method != sip.REGISTER {
		for _, h := range req.GetHeaders("Record-Route") {
			b.WriteString("Record-Route: " + h.Value() + "\r\n")
		}
	}
	b.WriteString("From: " + req.From().Value() + "\r\n")
	to := req.To().Value()
	if o.toTag != "" && code > 100 && !req.To().Params.Has("tag") {
		to += ";tag=" + o.toTag
	}
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Call-ID: " + req.CallID().Value() + "\r\n")
	b.WriteString("CSeq: " + req.CSeq().Value() + "\r\n")
	if o.contact != "" {
		b.WriteString("Contact: <" + o.contact + ">\r\n")
	}
	for _, x := range o.extra {
		b.WriteString(x + "\r\n")
	}
	b.WriteString("Server: Strowger\r\n")
	writeBody(&b, o.sdp)
	return []byte(b.String())
}

func writeBody(b *strings.Builder, body []byte) {
	if len(body) > 0 {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
}

// reqOpts describe a request the B2BUA sends.
type reqOpts struct {
	method  string
	ruri    string
	via     string // host of our Via
	branch  string
	from    string // full From value with tag
	to      string // full To value (with tag in dialog)
	callID  string
	cseq    uint32
	routes  []string // Route values in order
	contact string
	sdp     []byte
	extra   []string
}

func buildRequest(o reqOpts) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", o.method, o.ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s\r\n", o.via, o.branch)
	b.WriteString("Max-Forwards: 70\r\n")
	for _, r := range o.routes {
		b.WriteString("Route: " + r + "\r\n")
	}
	b.WriteString("From: " + o.from + "\r\n")
	b.WriteString("To: " + o.to + "\r\n")
	b.WriteString("Call-ID: " + o.callID + "\r\n")
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", o.cseq, o.method)
	if o.contact != "" {
		b.WriteString("Contact: <" + o.contact + ">\r\n")
	}
	for _, x := range o.extra {
		b.WriteString(x + "\r\n")
	}
	if o.method == "INVITE" {
		b.WriteString("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n")
	}
	b.WriteString("User-Agent: Strowger\r\n")
	writeBody(&b, o.sdp)
	return []byte(b.String())
}

// headerValues returns the values of every header named name, splitting
// comma-joined ones (Record-Route may be either).
func headerValues(m interface{ GetHeaders(string) []sip.Header }, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, splitComma(h.Value())...)
	}
	return out
}

// splitComma splits a header value at commas outside <> and quotes.
func splitComma(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				if s := strings.TrimSpace(v[start:i]); s != "" {
					out = append(out, s)
				}
				start = i + 1
			}
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// contactURI returns the URI of a message's Contact, "" when absent.
func contactURI(m interface{ Contact() *sip.ContactHeader }) string {
	ch := m.Contact()
	if ch == nil {
		return ""
	}
	return ch.Address.String()
}

// topBranch is the branch of the top Via.
func topBranch(m sip.Message) string {
	v := m.Via()
	if v == nil {
		return ""
	}
	b, _ := v.Params.Get("branch")
	return b
}

// tagOf returns the tag parameter of a From or To value.
func tagOf(p sip.HeaderParams) string {
	t, _ := p.Get("tag")
	return t
}

// uriUser returns the user@host of a URI for CDR fields.
func uriUserHost(u sip.Uri) string {
	if u.User == "" {
		return u.Host
	}
	return u.User + "@" + u.Host
}

// quoteDisplay quotes a display name for a From header.
func quoteDisplay(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return `"` + s + `"`
}

// userToken keeps the characters a SIP user part may carry unescaped.
func userToken(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.!~*'()&=+$,;?/", r) {
			return r
		}
		return -1
	}, s)
}

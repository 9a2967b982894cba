package edge

import (
	"bytes"
	"net"
	"strconv"
	"strings"
)

// rawMsg is a lenient split of a SIP message into start line, header lines
// and body. It never fails on header contents: it exists so the edge can
// still recognise a request, and build a 400 that echoes its Via, From, To,
// Call-ID and CSeq, when the strict parser (sipgo) rejects it.
type rawMsg struct {
	start    string
	response bool
	// For requests: the three tokens of the request line split on single
	// spaces; parts is 0 when the line does not have that shape.
	method, ruri, version string
	parts                 int
	headers               []rawHeader
	body                  []byte
	// complete is false when the blank line ending the headers is missing.
	complete bool
}

type rawHeader struct {
	name  string // canonical lower-case long form ("via", "call-id", ...)
	value string
}

var compactNames = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
	"c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding", "o": "event",
	"u": "allow-events", "r": "refer-to", "b": "referred-by", "x": "session-expires",
}

// knownNames maps the lower-case form of common header names (long and
// compact) to their canonical constant, so splitting a message does not
// allocate a lower-cased copy of every name.
var knownNames = func() map[string]string {
	m := map[string]string{}
	for k, v := range compactNames {
		m[k] = v
	}
	for _, n := range []string{"via", "from", "to", "call-id", "cseq", "contact", "content-length",
		"content-type", "max-forwards", "expires", "user-agent", "authorization", "proxy-authorization",
		"www-authenticate", "proxy-authenticate", "allow", "supported", "require", "proxy-require",
		"route", "record-route", "path", "accept", "event", "allow-events", "min-expires", "server",
		"subject", "content-encoding", "session-expires", "refer-to", "referred-by", "unsupported"} {
		m[n] = n
	}
	return m
}()

// canonName returns the canonical lower-case long form of a header name.
func canonName(name string) string {
	var buf [32]byte
	if len(name) <= len(buf) {
		for i := 0; i < len(name); i++ {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		if n, ok := knownNames[string(buf[:len(name)])]; ok {
			return n
		}
	}
	n := strings.ToLower(name)
	if long, isCompact := compactNames[n]; isCompact {
		return long
	}
	return n
}

// maxHeaders bounds the work done on one message.
const maxHeaders = 128

// splitRaw splits data. ok is false when the first line is not a request or
// status line at all (garbage, keep-alives).
func splitRaw(data []byte) (m rawMsg, ok bool) {
	headEnd := bytes.Index(data, []byte("\r\n\r\n"))
	var head []byte
	if headEnd < 0 {
		head = data
	} else {
		head = data[:headEnd]
		m.body = data[headEnd+4:]
		m.complete = true
	}
	lines := strings.Split(string(head), "\r\n")
	if len(lines) == 0 || len(lines[0]) == 0 {
		return m, false
	}
	m.start = lines[0]
	if strings.HasPrefix(m.start, "SIP/") {
		m.response = true
	} else {
		if p := strings.SplitN(m.start, " ", 4); len(p) == 3 {
			m.method, m.ruri, m.version, m.parts = p[0], p[1], p[2], 3
		} else if len(p) >= 1 {
			m.method = p[0]
		}
		if !isToken(m.method) || !strings.Contains(m.start, "SIP/") {
			return m, false
		}
	}
	m.headers = make([]rawHeader, 0, min(len(lines)-1, maxHeaders))
	for _, ln := range lines[1:] {
		if len(m.headers) >= maxHeaders {
			break
		}
		if ln == "" {
			continue
		}
		if (ln[0] == ' ' || ln[0] == '\t') && len(m.headers) > 0 {
			h := &m.headers[len(m.headers)-1]
			h.value += " " + strings.TrimSpace(ln)
			continue
		}
		name, value, found := strings.Cut(ln, ":")
		if !found {
			m.headers = append(m.headers, rawHeader{name: "", value: ln})
			continue
		}
		n := canonName(strings.TrimSpace(name))
		m.headers = append(m.headers, rawHeader{name: n, value: strings.TrimSpace(value)})
	}
	return m, true
}

// get returns the first value of header name (lower-case long form).
func (m *rawMsg) get(name string) (string, bool) {
	for _, h := range m.headers {
		if h.name == name {
			return h.value, true
		}
	}
	return "", false
}

// all returns every value of header name.
func (m *rawMsg) all(name string) []string {
	var out []string
	for _, h := range m.headers {
		if h.name == name {
			out = append(out, h.value)
		}
	}
	return out
}

// count returns how many lines header name spans.
func (m *rawMsg) count(name string) int {
	n := 0
	for _, h := range m.headers {
		if h.name == name {
			n++
		}
	}
	return n
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		switch c {
		case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
			continue
		}
		return false
	}
	return true
}

// cseqOf splits a CSeq value into number and method.
func cseqOf(v string) (uint32, string, bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, "", false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil || n > 1<<31-1 {
		return 0, "", false
	}
	return uint32(n), f[1], true
}

// topVia returns the first Via value of a possibly comma-joined header.
func topVia(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		return strings.TrimSpace(v[:i])
	}
	return v
}

// popVia returns data without its first Via value (the whole first Via
// line when it holds one value, else that value and its comma), and the
// value removed. ok is false, and the caller must use the full parser,
// for anything unusual: no blank line after the headers, a folded or
// quoted first Via, or none at all. The rest of data is copied unchanged.
func popVia(data []byte) (out []byte, top string, ok bool) {
	headEnd := bytes.Index(data, []byte("\r\n\r\n"))
	if headEnd < 0 {
		return nil, "", false
	}
	i := bytes.Index(data[:headEnd], []byte("\r\n")) // end of the start line
	if i < 0 {
		return nil, "", false
	}
	for i < headEnd {
		start := i + 2
		end := start + bytes.Index(data[start:headEnd+2], []byte("\r\n"))
		line := data[start:end]
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || canonName(strings.TrimSpace(string(line[:colon]))) != "via" {
			i = end
			continue
		}
		if end < headEnd && (data[end+2] == ' ' || data[end+2] == '\t') {
			return nil, "", false // folded onto the next line
		}
		value := line[colon+1:]
		if bytes.IndexByte(value, '"') >= 0 {
			return nil, "", false
		}
		out = make([]byte, 0, len(data))
		out = append(out, data[:start]...)
		if comma := bytes.IndexByte(value, ','); comma >= 0 {
			top = strings.TrimSpace(string(value[:comma]))
			out = append(out, line[:colon+1]...)
			out = append(out, ' ')
			out = append(out, bytes.TrimLeft(value[comma+1:], " \t")...)
			out = append(out, data[end:]...)
		} else {
			top = strings.TrimSpace(string(value))
			out = append(out, data[end+2:]...)
		}
		if top == "" {
			return nil, "", false
		}
		return out, top, true
	}
	return nil, "", false
}

// viaSentBy returns the host and port (0 when absent) of a single Via
// value; ok is false when it has not the shape "SIP/2.0/<transport>
// host[:port]".
func viaSentBy(via string) (host string, port int, ok bool) {
	head, _, _ := strings.Cut(via, ";")
	f := strings.Fields(head)
	if len(f) != 2 || !strings.HasPrefix(strings.ToUpper(f[0]), "SIP/2.0/") || !isAlpha(f[0][len("SIP/2.0/"):]) {
		return "", 0, false
	}
	sentBy := f[1]
	if h, p, err := net.SplitHostPort(sentBy); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", 0, false
		}
		return h, n, h != ""
	}
	if strings.ContainsAny(sentBy, "[]:") {
		return "", 0, false
	}
	return sentBy, 0, sentBy != ""
}

// isAlpha reports whether s is a non-empty run of ASCII letters (a Via's
// transport).
func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// viaParam returns a parameter of a single Via value.
func viaParam(via, name string) (string, bool) {
	parts := strings.Split(via, ";")
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// tagOf returns the tag parameter of a From or To value, outside any <>.
func tagOf(v string) string {
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		v = v[i+1:]
	}
	for _, p := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "tag") {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

// response is a reply the edge builds itself.
type response struct {
	code   int
	reason string
	// extra are full header lines without CRLF, e.g. "Min-Expires: 60".
	extra []string
	// toTag is added to To when it has none (every final answer but 100).
	toTag string
	// after, when set, runs once the response is sent.
	after func()
}

// build renders the response to request m received from src (ip, port).
// Via, From, To, Call-ID and CSeq are echoed verbatim; the top Via gets
// received= and, when asked for, rport= (RFC 3581).
func (r response) build(m *rawMsg, srcIP string, srcPort int) []byte {
	var b bytes.Buffer
	b.Grow(512)
	b.WriteString("SIP/2.0 ")
	b.WriteString(strconv.Itoa(r.code))
	b.WriteByte(' ')
	b.WriteString(r.reason)
	b.WriteString("\r\n")
	first := true
	for _, h := range m.headers {
		switch h.name {
		case "via":
			v := h.value
			if first {
				v = stampVia(v, srcIP, srcPort)
				first = false
			}
			b.WriteString("Via: ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	for _, name := range [...]string{"from", "to", "call-id", "cseq"} {
		v, ok := m.get(name)
		if !ok {
			continue
		}
		b.WriteString(canonicalName[name])
		b.WriteString(": ")
		b.WriteString(v)
		if name == "to" && r.toTag != "" && r.code > 100 && tagOf(v) == "" {
			b.WriteString(";tag=")
			b.WriteString(r.toTag)
		}
		b.WriteString("\r\n")
	}
	for _, x := range r.extra {
		b.WriteString(x)
		b.WriteString("\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.Bytes()
}

var canonicalName = map[string]string{"from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}

// stampVia adds received and fills rport on the first Via of v.
func stampVia(v, ip string, port int) string {
	rest := ""
	if i := strings.IndexByte(v, ','); i >= 0 {
		v, rest = v[:i], v[i:]
	}
	parts := strings.Split(v, ";")
	out := parts[:1]
	hasRport := false
	for _, p := range parts[1:] {
		k, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "received":
			continue
		case "rport":
			hasRport = true
			out = append(out, "rport="+strconv.Itoa(port))
			continue
		}
		out = append(out, p)
	}
	if ip != "" {
		out = append(out, "received="+ip)
	}
	_ = hasRport
	return strings.Join(out, ";") + rest
}

// Package sipauth is the server side of SIP digest authentication
// (RFC 3261 §22, RFC 7616 / RFC 8760): stateless nonces that carry their own
// integrity and age, challenges, parsing of Authorization and
// Proxy-Authorization credentials, and verification for MD5 and SHA-256 with
// qop=auth, including replay protection by nonce-count.
//
// It knows nothing of tenants, NATS or sockets. The edge role imports it; any
// package may, but only the edge verifies SIP credentials.
package sipauth

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // MD5 is what RFC 2617 digest requires, not a security choice of ours.
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/strowger/strowger/internal/clock"
)

// Algorithm names as they appear in challenges and credentials.
const (
	MD5    = "MD5"
	SHA256 = "SHA-256"
)

// Errors returned by Verify. The edge maps every one of them to the same
// answer, except ErrStale, which asks for a new challenge with stale=true.
var (
	ErrMalformed = errors.New("sipauth: malformed credentials")
	ErrBadNonce  = errors.New("sipauth: nonce not issued by us")
	ErrStale     = errors.New("sipauth: nonce expired")
	ErrReplay    = errors.New("sipauth: nonce count replayed")
	ErrMismatch  = errors.New("sipauth: response does not match")
	ErrAlgorithm = errors.New("sipauth: unsupported algorithm")
)

// nonce layout before base64url: 8 bytes issue time (unix ns), 8 random
// bytes, 16 bytes of HMAC-SHA256(secret, time|random|realm).
const (
	nonceRawLen = 32
	macLen      = 16
)

// Nonces issues and checks nonces. A nonce proves by its HMAC that this
// cluster issued it for that realm and when; no server state is needed to
// check it, so any edge sharing the secret accepts it. Only the nonce-count
// replay memory is per process.
type Nonces struct {
	secret []byte
	ttl    time.Duration
	clk    clock.Clock

	// maxTracked bounds the replay memory; beyond it new nonces are answered
	// as stale, which makes the client fetch a fresh challenge.
	maxTracked int
	// macs pools HMAC states keyed with secret.
	macs sync.Pool

	mu sync.Mutex
	// gens is the replay memory: the nonce-count last used with each nonce,
	// in one map per issue-time window (gen), so that forgetting expired
	// nonces drops whole maps instead of walking every entry. Keys are the
	// nonce's time and random bytes; values packNC.
	gens      map[int64]map[nonceKey]uint64
	tracked   int
	gen       time.Duration
	lastSweep time.Time
}

// nonceKey identifies a nonce: its issue time and random bytes.
type nonceKey [16]byte

// noQopFlag marks a nonce used without qop (one request only).
const noQopFlag = 1 << 32

// NewNonces returns a nonce issuer. secret must be at least 16 bytes and
// the same on every edge; ttl is how long a nonce stays usable.
func NewNonces(secret []byte, ttl time.Duration, clk clock.Clock) (*Nonces, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("sipauth: nonce secret must be at least 16 bytes, got %d", len(secret))
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("sipauth: nonce ttl must be positive, got %s", ttl)
	}
	n := &Nonces{
		secret:     append([]byte(nil), secret...),
		ttl:        ttl,
		clk:        clk,
		maxTracked: 4 << 20,
		gens:       make(map[int64]map[nonceKey]uint64),
		gen:        max(ttl/4, time.Second),
		lastSweep:  clk.Now(),
	}
	n.macs.New = func() any { return hmac.New(sha256.New, n.secret) }
	return n, nil
}

// TTL is how long a nonce stays valid.
func (n *Nonces) TTL() time.Duration { return n.ttl }

// New issues a nonce for realm.
func (n *Nonces) New(realm string) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(n.clk.Now().UnixNano()))
	_, _ = rand.Read(raw[8:16])
	copy(raw[16:], n.mac(raw[:16], realm))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func (n *Nonces) mac(prefix []byte, realm string) []byte {
	m := n.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(prefix)
	var lower [128]byte
	if len(realm) <= len(lower) {
		for i := 0; i < len(realm); i++ {
			c := realm[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		m.Write(lower[:len(realm)])
	} else {
		m.Write([]byte(strings.ToLower(realm)))
	}
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])[:macLen]
	n.macs.Put(m)
	return out
}

// check verifies integrity and age; it reports when the nonce was issued
// and its replay key.
func (n *Nonces) check(nonce, realm string) (time.Time, nonceKey, error) {
	var raw [nonceRawLen]byte
	var key nonceKey
	if base64.RawURLEncoding.DecodedLen(len(nonce)) != nonceRawLen {
		return time.Time{}, key, ErrBadNonce
	}
	if k, err := base64.RawURLEncoding.Decode(raw[:], []byte(nonce)); err != nil || k != nonceRawLen {
		return time.Time{}, key, ErrBadNonce
	}
	if !hmac.Equal(raw[16:], n.mac(raw[:16], realm)) {
		return time.Time{}, key, ErrBadNonce
	}
	copy(key[:], raw[:16])
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	now := n.clk.Now()
	// A nonce from the future means a clock step or a forged clock; treat it
	// as stale so the client simply asks again.
	if !now.Before(issued.Add(n.ttl)) || issued.After(now.Add(time.Minute)) {
		return time.Time{}, key, ErrStale
	}
	return issued, key, nil
}

// use records nc for the nonce and fails when it does not grow. Without
// qop the client sends no nc, so such a nonce is good for one request only.
func (n *Nonces) use(key nonceKey, issued time.Time, nc uint32, hasQop bool) error {
	now := n.clk.Now()
	idx := issued.UnixNano() / int64(n.gen)
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.lastSweep) >= n.gen {
		// A generation is forgotten once every nonce in it has expired.
		for g, m := range n.gens {
			if !now.Before(time.Unix(0, (g+1)*int64(n.gen)).Add(n.ttl)) {
				n.tracked -= len(m)
				delete(n.gens, g)
			}
		}
		n.lastSweep = now
	}
	g := n.gens[idx]
	prev, ok := g[key]
	if ok {
		if !hasQop || prev&noQopFlag != 0 || uint64(nc) <= prev&0xffffffff {
			return ErrReplay
		}
	} else if n.tracked >= n.maxTracked {
		return ErrStale
	}
	if g == nil {
		g = make(map[nonceKey]uint64)
		n.gens[idx] = g
	}
	if !ok {
		n.tracked++
	}
	v := uint64(nc)
	if !hasQop {
		v |= noQopFlag
	}
	g[key] = v
	return nil
}

// Challenge returns the value of a WWW-Authenticate or Proxy-Authenticate
// header for realm with a fresh nonce. stale=true tells the client its
// password was fine but the nonce was old.
func (n *Nonces) Challenge(realm, algorithm string, stale bool) string {
	var b strings.Builder
	b.Grow(160)
	b.WriteString(`Digest realm="`)
	b.WriteString(realm)
	b.WriteString(`", nonce="`)
	b.WriteString(n.New(realm))
	b.WriteString(`", qop="auth", algorithm=`)
	b.WriteString(algorithm)
	if stale {
		b.WriteString(`, stale=true`)
	}
	return b.String()
}

// Credentials are the parsed fields of a Digest Authorization header.
type Credentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string // MD5 when absent
	Qop       string // "" or "auth"
	NC        string // 8 hex digits when Qop is set
	CNonce    string
	Opaque    string
}

// ParseCredentials parses a Digest credentials header value.
func ParseCredentials(v string) (Credentials, error) {
	var c Credentials
	v = strings.TrimSpace(v)
	if len(v) < 7 || !strings.EqualFold(v[:6], "Digest") || (v[6] != ' ' && v[6] != '\t') {
		return c, ErrMalformed
	}
	v = v[7:]
	// Bounded by the header length: each pass consumes at least one byte.
	for len(v) > 0 {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			break
		}
		eq := strings.IndexByte(v, '=')
		if eq <= 0 {
			return c, ErrMalformed
		}
		name := strings.ToLower(strings.TrimSpace(v[:eq]))
		v = strings.TrimLeft(v[eq+1:], " \t")
		var val string
		if strings.HasPrefix(v, `"`) {
			end := -1
			for i := 1; i < len(v); i++ {
				if v[i] == '\\' {
					i++
					continue
				}
				if v[i] == '"' {
					end = i
					break
				}
			}
			if end < 0 {
				return c, ErrMalformed
			}
			val = strings.ReplaceAll(v[1:end], `\"`, `"`)
			v = v[end+1:]
		} else {
			end := strings.IndexByte(v, ',')
			if end < 0 {
				end = len(v)
			}
			val = strings.TrimSpace(v[:end])
			v = v[end:]
		}
		switch name {
		case "username":
			c.Username = val
		case "realm":
			c.Realm = val
		case "nonce":
			c.Nonce = val
		case "uri":
			c.URI = val
		case "response":
			c.Response = strings.ToLower(val)
		case "algorithm":
			c.Algorithm = val
		case "qop":
			c.Qop = strings.ToLower(val)
		case "nc":
			c.NC = val
		case "cnonce":
			c.CNonce = val
		case "opaque":
			c.Opaque = val
		}
	}
	if c.Username == "" || c.Realm == "" || c.Nonce == "" || c.URI == "" || c.Response == "" {
		return c, ErrMalformed
	}
	if c.Algorithm == "" {
		c.Algorithm = MD5
	}
	if c.Qop != "" && (c.Qop != "auth" || c.CNonce == "" || len(c.NC) != 8) {
		return c, ErrMalformed
	}
	return c, nil
}

// digestAlg is a digest algorithm's one-shot hash.
type digestAlg int

const (
	algMD5 digestAlg = iota
	algSHA256
)

func newHash(algorithm string) (digestAlg, error) {
	switch {
	case strings.EqualFold(algorithm, MD5):
		return algMD5, nil
	case strings.EqualFold(algorithm, SHA256):
		return algSHA256, nil
	}
	return 0, ErrAlgorithm
}

// hexHash is lower-case hex of H(p1:p2:...). It works in stack buffers: a
// digest check computes three of them per request.
func hexHash(alg digestAlg, parts ...string) string {
	var stack [512]byte
	in := stack[:0]
	for i, p := range parts {
		if i > 0 {
			in = append(in, ':')
		}
		in = append(in, p...)
	}
	var sum []byte
	var out [2 * sha256.Size]byte
	switch alg {
	case algSHA256:
		s := sha256.Sum256(in)
		sum = s[:]
	default:
		s := md5.Sum(in)
		sum = s[:]
	}
	hex.Encode(out[:], sum)
	return string(out[:2*len(sum)])
}

// Response computes the digest response a client with password would send.
// Tests and the verifier share it.
func Response(c Credentials, method, password string) (string, error) {
	h, err := newHash(c.Algorithm)
	if err != nil {
		return "", err
	}
	ha1 := hexHash(h, c.Username, c.Realm, password)
	ha2 := hexHash(h, method, c.URI)
	if c.Qop == "" {
		return hexHash(h, ha1, c.Nonce, ha2), nil
	}
	return hexHash(h, ha1, c.Nonce, c.NC, c.CNonce, c.Qop, ha2), nil
}

// Verify checks credentials c sent with method against password for the
// challenged realm. It always computes the digest, also when the nonce is
// bad, so that the time it takes says nothing about why it failed; callers
// pass a dummy password for unknown users for the same reason.
func (n *Nonces) Verify(c Credentials, method, realm, password string) error {
	want, herr := Response(c, method, password)
	if herr != nil {
		return herr
	}
	match := subtle.ConstantTimeCompare([]byte(want), []byte(c.Response)) == 1
	if !strings.EqualFold(c.Realm, realm) {
		return ErrMismatch
	}
	issued, key, err := n.check(c.Nonce, realm)
	if err != nil {
		return err
	}
	if !match {
		return ErrMismatch
	}
	var nc uint64
	if c.Qop != "" {
		var perr error
		nc, perr = parseHex32(c.NC)
		if perr != nil || nc == 0 {
			return ErrMalformed
		}
	}
	return n.use(key, issued, uint32(nc), c.Qop != "")
}

// CheckNonce reports whether c's nonce is ours and fresh for realm, without
// consuming it. The edge uses it to answer a stale nonce with stale=true
// before looking anything up.
func (n *Nonces) CheckNonce(c Credentials, realm string) error {
	_, _, err := n.check(c.Nonce, realm)
	return err
}

func parseHex32(s string) (uint64, error) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, ErrMalformed
		}
		v = v<<4 | uint64(d)
	}
	return v, nil
}

// Authorization builds a client's Authorization header value answering
// challenge for username/password; Go SIP user agents in tests use it.
func Authorization(challenge, method, uri, username, password, cnonce string, nc uint32) (string, error) {
	fields := map[string]string{}
	v := strings.TrimSpace(challenge)
	if !strings.HasPrefix(v, "Digest ") {
		return "", ErrMalformed
	}
	for _, part := range splitParams(v[7:]) {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		fields[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(val), `"`)
	}
	c := Credentials{Username: username, Realm: fields["realm"], Nonce: fields["nonce"], URI: uri,
		Algorithm: fields["algorithm"]}
	if c.Algorithm == "" {
		c.Algorithm = MD5
	}
	if strings.Contains(fields["qop"], "auth") {
		c.Qop, c.NC, c.CNonce = "auth", fmt.Sprintf("%08x", nc), cnonce
	}
	resp, err := Response(c, method, password)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s`,
		c.Username, c.Realm, c.Nonce, c.URI, resp, c.Algorithm)
	if c.Qop != "" {
		s += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s"`, c.NC, c.CNonce)
	}
	return s, nil
}

// splitParams splits on commas outside quotes.
func splitParams(s string) []string {
	var out []string
	inQ, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

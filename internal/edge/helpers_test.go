package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/sipauth"
	"github.com/strowger/strowger/internal/store"
)

const (
	testAcct  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	testRealm = "a.test"
)

// memDir is an in-memory Directory.
type memDir struct {
	mu sync.Mutex
	m  map[string]store.SIPCredential
}

func (d *memDir) add(realm, user, pass string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[realm+"|"+user] = store.SIPCredential{AccountID: testAcct, DeviceID: "dev-" + user, OwnerID: "owner-" + user,
		Realm: realm, Username: user, Password: pass}
}

func (d *memDir) SIPCredential(_ context.Context, realm, user string) (store.SIPCredential, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.m[realm+"|"+user]
	return c, ok, nil
}

type env struct {
	t   testing.TB
	e   *Edge
	clk *clock.Fake
	dir *memDir
	b   *store.Buckets
	srv *bustest.Server
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	srv := bustest.Start(t)
	b, err := store.Provision(context.Background(), srv.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	dir := &memDir{m: map[string]store.SIPCredential{}}
	dir.add(testRealm, "alice", "alicepw")
	dir.add(testRealm, "bob", "bobpw")
	cfg := Config{Listen: "127.0.0.1:0", NodeID: "edge1", NonceSecret: []byte("test-secret-0123456789")}
	if mod != nil {
		mod(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := New(cfg, Deps{Logger: log, Clock: clk, Directory: dir, Conn: srv.Conn, JS: srv.JS, Buckets: b})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return &env{t: t, e: e, clk: clk, dir: dir, b: b, srv: srv}
}

// ua is a hand-built SIP user agent on a loopback socket.
type ua struct {
	t    testing.TB
	conn net.Conn
	tcp  bool
	seq  atomic.Int64
	addr string // local ip:port
	buf  []byte // receive buffer (one reader per ua)
}

var uaSeq atomic.Int64

func (en *env) udpUA() *ua { return en.uaFrom("127.0.0.1") }

// uaFrom binds the UA to another loopback address, i.e. another source.
func (en *env) uaFrom(ip string) *ua {
	en.t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, net.UDPAddrFromAddrPort(en.e.Addr()))
	if err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() { c.Close() })
	return &ua{t: en.t, conn: c, addr: c.LocalAddr().String()}
}

func (en *env) tcpUA() *ua {
	en.t.Helper()
	c, err := net.Dial("tcp", en.e.Addr().String())
	if err != nil {
		en.t.Fatal(err)
	}
	en.t.Cleanup(func() { c.Close() })
	return &ua{t: en.t, conn: c, tcp: true, addr: c.LocalAddr().String()}
}

func (u *ua) send(msg string) {
	u.t.Helper()
	if _, err := u.conn.Write([]byte(msg)); err != nil {
		u.t.Fatal(err)
	}
}

// recv waits up to d for one message; nil on timeout.
func (u *ua) recv(d time.Duration) sip.Message {
	u.t.Helper()
	_ = u.conn.SetReadDeadline(time.Now().Add(d))
	if u.buf == nil {
		u.buf = make([]byte, 65535)
	}
	n, err := u.conn.Read(u.buf)
	buf := append([]byte(nil), u.buf[:n]...)
	if err != nil {
		return nil
	}
	var msg sip.Message
	if u.tcp {
		p := sip.NewParser().NewSIPStream()
		_ = p.ParseSIPStream(buf[:n], func(m sip.Message) {
			if msg == nil {
				msg = m
			}
		})
	} else {
		msg, err = sip.ParseMessage(buf[:n])
		if err != nil {
			// A 400 echoes the malformed headers it refuses; the status
			// line is what matters then.
			msg = statusOnly(u.t, buf[:n])
		}
	}
	return msg
}

// resp waits for a response and fails the test without one.
func (u *ua) resp() *sip.Response {
	u.t.Helper()
	m := u.recv(3 * time.Second)
	if m == nil {
		u.t.Fatal("no response from edge")
	}
	r, ok := m.(*sip.Response)
	if !ok {
		u.t.Fatalf("expected a response, got %s", m.String())
	}
	return r
}

// silent asserts that nothing arrives for a short while.
func (u *ua) silent() {
	u.t.Helper()
	if m := u.recv(300 * time.Millisecond); m != nil {
		u.t.Fatalf("expected silence, got %s", m.String())
	}
}

func (u *ua) transport() string {
	if u.tcp {
		return "TCP"
	}
	return "UDP"
}

type regOpts struct {
	user, authUser, pass, realm string
	contacts                    []string
	expires                     string // "" = no Expires header
	callID                      string
	cseq                        int
	auth                        string // full Authorization header value
	extra                       []string
	branch                      string
}

// register builds a REGISTER.
func (u *ua) register(o regOpts) string {
	if o.realm == "" {
		o.realm = testRealm
	}
	if o.callID == "" {
		o.callID = "reg-" + u.addr
	}
	if o.cseq == 0 {
		o.cseq = int(u.seq.Add(1))
	}
	if o.branch == "" {
		o.branch = fmt.Sprintf("z9hG4bK-t%d", uaSeq.Add(1))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", o.realm)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=%s;rport\r\n", u.transport(), u.addr, o.branch)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=ft%d\r\nTo: <sip:%s@%s>\r\n", o.user, o.realm, o.cseq, o.user, o.realm)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\nMax-Forwards: 70\r\n", o.callID, o.cseq)
	for _, c := range o.contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if o.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", o.expires)
	}
	if o.auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", o.auth)
	}
	for _, x := range o.extra {
		b.WriteString(x + "\r\n")
	}
	b.WriteString("User-Agent: strowger-test\r\nContent-Length: 0\r\n\r\n")
	return b.String()
}

// doRegister runs the 401 → REGISTER with credentials exchange and returns
// the final response.
func (u *ua) doRegister(o regOpts) *sip.Response {
	u.t.Helper()
	o2 := o
	o2.auth = ""
	o2.callID = o.callID
	u.send(u.register(o2))
	r := u.resp()
	if r.StatusCode != 401 {
		u.t.Fatalf("first REGISTER: %d, want 401", r.StatusCode)
	}
	ch := r.GetHeader("WWW-Authenticate").Value()
	authUser := o.authUser
	if authUser == "" {
		authUser = o.user
	}
	realm := o.realm
	if realm == "" {
		realm = testRealm
	}
	h, err := sipauth.Authorization(ch, "REGISTER", "sip:"+realm, authUser, o.pass, "cn0", 1)
	if err != nil {
		u.t.Fatal(err)
	}
	o.auth = h
	u.send(u.register(o))
	return u.resp()
}

func contactsOf(r *sip.Response) map[string]string {
	out := map[string]string{}
	for _, h := range r.GetHeaders("Contact") {
		c := h.(*sip.ContactHeader)
		exp, _ := c.Params.Get("expires")
		out[c.Address.String()] = exp
	}
	return out
}

func (u *ua) options() string {
	n := uaSeq.Add(1)
	return fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-o%d\r\n"+
		"From: <sip:mon@%s>;tag=o%d\r\nTo: <sip:%s>\r\nCall-ID: opt-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", testRealm, u.transport(), u.addr, n, testRealm, n, testRealm, n)
}

// expectOptionsOK checks the edge still serves this source.
func (u *ua) expectOptionsOK() {
	u.t.Helper()
	u.send(u.options())
	if r := u.resp(); r.StatusCode != 200 {
		u.t.Fatalf("OPTIONS: %d", r.StatusCode)
	}
}

func statusOnly(t testing.TB, b []byte) *sip.Response {
	t.Helper()
	line, _, _ := strings.Cut(string(b), "\r\n")
	f := strings.SplitN(line, " ", 3)
	if len(f) < 3 || f[0] != "SIP/2.0" {
		t.Fatalf("edge sent a non-response: %q", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("bad status line %q", line)
	}
	return sip.NewResponse(code, f[2])
}

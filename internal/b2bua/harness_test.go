package b2bua

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/edge"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sipauth"
	"github.com/strowger/strowger/internal/store"
)

const realm = "b2b.test"

// env is one in-process platform: embedded NATS, the store, a real edge on
// loopback UDP and the B2BUA under test, all on one fake clock.
type env struct {
	t      testing.TB
	srv    *bustest.Server
	st     *store.Store
	clk    *clock.Fake
	edge   *edge.Edge
	b2b    *Server
	acct   string
	users  map[string]string // login → user id
	devs   map[string]string // sip username → device id
	pass   map[string]string // sip username → password
	router atomic.Pointer[Router]
}

func testLogger() *slog.Logger {
	if os.Getenv("B2BUA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testPorts is this package's RTP range in tests (the b2bua worktree's
// assigned range); the allocator skips ports other processes hold.
var testPorts = media.PortRange{Low: 20000, High: 20999}

func newEnv(t testing.TB, mod func(*Config)) *env {
	return newEnvWith(t, mod, nil)
}

// newEnvWith also tunes the edge's configuration.
func newEnvWith(t testing.TB, mod func(*Config), edgeMod func(*edge.Config)) *env {
	t.Helper()
	srv := bustest.Start(t)
	ctx := t.Context()
	b, err := store.Provision(ctx, srv.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The fake clock starts at the real time (whole seconds) because the CDR
	// reader finds records by the stream's own timestamps.
	clk := clock.NewFake(time.Now().Truncate(time.Second))
	log := testLogger()
	st := store.New(b, srv.Conn, log, clk)
	en := &env{t: t, srv: srv, st: st, clk: clk, users: map[string]string{}, devs: map[string]string{}, pass: map[string]string{}}
	en.acct = store.NewID()
	en.create(store.TypeAccount, en.acct, map[string]any{"name": "B2B", "realm": realm, "enabled": true,
		"pvt_tree": []any{}, "caller_id": map[string]any{"internal": map[string]any{"name": "Acct", "number": "999"}}})
	for _, p := range []struct{ login, ext string }{{"alice", "100"}, {"bob", "101"}, {"carol", "102"}} {
		uid := store.NewID()
		en.users[p.login] = uid
		en.create(store.TypeUser, uid, map[string]any{"first_name": p.login, "username": p.login, "enabled": true,
			"caller_id": map[string]any{"internal": map[string]any{"name": strings.ToUpper(p.login[:1]) + p.login[1:], "number": p.ext}}})
		did := store.NewID()
		en.devs[p.ext] = did
		en.pass[p.ext] = "pw-" + p.ext
		en.create(store.TypeDevice, did, map[string]any{"name": p.login + " phone", "owner_id": uid, "enabled": true,
			"sip": map[string]any{"username": p.ext, "password": "pw-" + p.ext, "method": "password"}})
	}

	ecfg := edge.Config{Listen: "127.0.0.1:0", NodeID: "edge1", NonceSecret: []byte("b2bua-test-secret-0123")}
	if edgeMod != nil {
		edgeMod(&ecfg)
	}
	e, err := edge.New(ecfg,
		edge.Deps{Logger: log.With("role", "edge"), Clock: clk, Directory: st, Conn: srv.Conn, JS: srv.JS, Buckets: b})
	if err != nil {
		t.Fatal(err)
	}
	ports, err := media.NewPorts(netip.MustParseAddr("127.0.0.1"), testPorts, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeID: "media1", RTPIP: netip.MustParseAddr("127.0.0.1")}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, Deps{Conn: srv.Conn, Buckets: b, Docs: st, Location: location.New(srv.JS, b.Registrations, clk),
		CDRs: cdr.NewWriter(srv.JS, log), Ports: ports, Clock: clk, Logger: log.With("role", "media"),
		Router: RouterFunc(func(ctx context.Context, c callflow.Call) error {
			r := en.router.Load()
			if r == nil {
				return ErrNoRoute
			}
			return (*r).Route(ctx, c)
		})})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Start(sctx); err != nil {
		t.Fatal(err)
	}
	// Port 0 picks a free UDP port; the edge then needs the same TCP
	// port, which another process may hold: try again with a new one.
	for attempt := 0; ; attempt++ {
		err := e.Start(sctx)
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
	en.edge, en.b2b = e, s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
		e.Stop(ctx)
	})
	return en
}

func (en *env) create(typ, id string, body map[string]any) {
	en.t.Helper()
	if _, err := en.st.Create(en.t.Context(), &store.Doc{Account: en.acct, Type: typ, ID: id, Body: body}); err != nil {
		en.t.Fatalf("creating %s: %v", typ, err)
	}
}

func (en *env) setRouter(f func(ctx context.Context, c callflow.Call) error) {
	var r Router = RouterFunc(f)
	en.router.Store(&r)
}

// bridgeTo is a router that rings devices and answers failures the way the
// engine follows a bridge's branches: Busy → 486, else 480.
func (en *env) bridgeTo(req callflow.BridgeRequest) func(ctx context.Context, c callflow.Call) error {
	return func(ctx context.Context, c callflow.Call) error {
		_, err := c.Bridge(ctx, req)
		return err
	}
}

// registeredPair is phones 100 (alice) and 101 (bob), both registered.
func (en *env) registeredPair() (alice, bob *phone) {
	alice, bob = en.phone("100"), en.phone("101")
	alice.register()
	bob.register()
	return alice, bob
}

// registeredTrio is phones 100 (alice), 101 (bob) and 102 (carol), all
// registered.
func (en *env) registeredTrio() (alice, bob, carol *phone) {
	alice, bob = en.registeredPair()
	carol = en.phone("102")
	carol.register()
	return alice, bob, carol
}

// newBridgeEnv is an env (mod applied to its config) whose router rings
// 101, with alice (100) and bob (101) registered.
func newBridgeEnv(t testing.TB, mod func(*Config)) (en *env, alice, bob *phone) {
	en = newEnv(t, mod)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, bob = en.registeredPair()
	return en, alice, bob
}

func (en *env) endpoints(exts ...string) []callflow.Endpoint {
	var out []callflow.Endpoint
	for _, x := range exts {
		out = append(out, callflow.Endpoint{DeviceID: en.devs[x], Timeout: 20 * time.Second})
	}
	return out
}

// waitFor polls cond on real time (for effects of real I/O), bounded.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cdrs reads the account's CDRs through the REST API (GET /cdrs, as a
// Kazoo client would), waiting for want of them, keyed by Call-ID.
func (en *env) cdrs(want int) map[string]cdr.Record {
	en.t.Helper()
	out := map[string]cdr.Record{}
	waitFor(en.t, fmt.Sprintf("%d CDRs", want), func() bool {
		out = map[string]cdr.Record{}
		for _, m := range en.apiList("/cdrs?page_size=100") {
			b, _ := json.Marshal(m)
			var r cdr.Record
			if err := json.Unmarshal(b, &r); err != nil {
				en.t.Fatal(err)
			}
			out[r.CallID] = r
		}
		return len(out) >= want
	})
	if len(out) != want {
		en.t.Fatalf("%d CDRs, want %d: %+v", len(out), want, out)
	}
	return out
}

// noLiveCalls waits until the B2BUA has finished every call and removed
// their keys.
func (en *env) noLiveCalls() {
	en.t.Helper()
	waitFor(en.t, "calls to finish", func() bool { return en.b2b.LiveCalls() == 0 })
	keys, err := en.srv.JS.KeyValue(en.t.Context(), store.BucketCalls)
	if err != nil {
		en.t.Fatal(err)
	}
	ks, err := keys.ListKeys(en.t.Context())
	if err != nil {
		en.t.Fatal(err)
	}
	for k := range ks.Keys() {
		en.t.Fatalf("call key %s left behind", k)
	}
}

func (en *env) channels() []map[string]any {
	en.t.Helper()
	return en.apiList("/channels")
}

// phone is a Go SIP user agent on loopback UDP with its own RTP socket.
type phone struct {
	t    testing.TB
	en   *env
	ext  string
	sip  *net.UDPConn
	tcp  net.Conn
	rtp  *net.UDPConn
	edge netip.AddrPort
	in   chan sip.Message
	seq  atomic.Uint32
	mu   sync.Mutex
	dlg  map[string]*pdialog // by Call-ID
}

// pdialog is the phone's view of one dialog.
type pdialog struct {
	callID, localTag, remoteTag string
	local, remote               string // From/To values without tags (as the phone sends them)
	target                      string
	routes                      []string
	cseq                        int
	invite                      *sip.Request // received INVITE (callee side)
	branch, inviteMsg, to       string       // the phone's own INVITE (caller side)
	answer                      []byte       // last SDP answer received
}

var branchSeq atomic.Int64

func branch() string { return fmt.Sprintf("z9hG4bK-ph%d", branchSeq.Add(1)) }

func (en *env) phone(ext string) *phone {
	en.t.Helper()
	edgeAddr := en.edge.Addr()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		en.t.Fatal(err)
	}
	r, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		en.t.Fatal(err)
	}
	p := &phone{t: en.t, en: en, ext: ext, sip: c, rtp: r, edge: edgeAddr, in: make(chan sip.Message, 64), dlg: map[string]*pdialog{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
			if err != nil {
				continue
			}
			select {
			case p.in <- m:
			default:
			}
		}
	}()
	en.t.Cleanup(func() { c.Close(); r.Close(); <-done })
	return p
}

func (p *phone) addr() string {
	if p.tcp != nil {
		return p.tcp.LocalAddr().String()
	}
	return p.sip.LocalAddr().String()
}
func (p *phone) rtpPort() int { return p.rtp.LocalAddr().(*net.UDPAddr).Port }
func (p *phone) contact() string {
	if p.tcp != nil {
		return "sip:" + p.ext + "@" + p.addr() + ";transport=tcp"
	}
	return "sip:" + p.ext + "@" + p.addr()
}

func (p *phone) send(msg string) {
	p.t.Helper()
	if p.tcp != nil {
		// The builders write UDP Vias; a TCP phone says TCP in its own.
		msg = strings.ReplaceAll(msg, "SIP/2.0/UDP "+p.addr(), "SIP/2.0/TCP "+p.addr())
		if _, err := p.tcp.Write([]byte(msg)); err != nil {
			p.t.Fatal(err)
		}
		return
	}
	if _, err := p.sip.WriteToUDPAddrPort([]byte(msg), p.edge); err != nil {
		p.t.Fatal(err)
	}
}

// tcpPhone is a phone whose SIP runs over one TCP connection to the edge.
func (en *env) tcpPhone(ext string) *phone {
	en.t.Helper()
	c, err := net.Dial("tcp", en.edge.Addr().String())
	if err != nil {
		en.t.Fatal(err)
	}
	r, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		en.t.Fatal(err)
	}
	p := &phone{t: en.t, en: en, ext: ext, tcp: c, rtp: r, edge: en.edge.Addr(), in: make(chan sip.Message, 64), dlg: map[string]*pdialog{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ps := sip.NewParser().NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			_ = ps.ParseSIPStream(buf[:n], func(m sip.Message) {
				select {
				case p.in <- m:
				default:
				}
			})
		}
	}()
	en.t.Cleanup(func() { c.Close(); r.Close(); <-done })
	return p
}

// next returns the next SIP message, failing after a real-time bound.
func (p *phone) next() sip.Message {
	p.t.Helper()
	select {
	case m := <-p.in:
		return m
	case <-time.After(5 * time.Second):
		p.t.Fatalf("phone %s: no SIP message", p.ext)
	}
	return nil
}

// resp waits for a response with one of the codes (skipping 100 and any
// other provisional not asked for).
func (p *phone) resp(codes ...int) *sip.Response {
	p.t.Helper()
	for {
		m := p.next()
		r, ok := m.(*sip.Response)
		if !ok {
			p.t.Fatalf("phone %s: expected a response, got %s\n%s", p.ext, firstLine(m), m)
		}
		for _, c := range codes {
			if r.StatusCode == c {
				return r
			}
		}
		if r.StatusCode < 200 {
			continue
		}
		p.t.Fatalf("phone %s: got %d, want %v\n%s", p.ext, r.StatusCode, codes, r)
	}
}

// req waits for a request of the method, skipping stray responses.
func (p *phone) req(method sip.RequestMethod) *sip.Request {
	p.t.Helper()
	for {
		m := p.next()
		if r, ok := m.(*sip.Request); ok {
			if r.Method == method {
				return r
			}
			p.t.Fatalf("phone %s: got %s, want %s", p.ext, r.Method, method)
		}
	}
}

// quiet asserts nothing arrives for a short real-time while.
func (p *phone) quiet() {
	p.t.Helper()
	select {
	case m := <-p.in:
		p.t.Fatalf("phone %s: unexpected %s", p.ext, firstLine(m))
	case <-time.After(200 * time.Millisecond):
	}
}

func (p *phone) register() {
	p.registerContact(p.contact())
}

func (p *phone) registerContact(contact string) {
	p.t.Helper()
	callID := "reg-" + p.ext + "-" + p.addr()
	build := func(auth string) string {
		cseq := p.seq.Add(1)
		s := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
			"From: <sip:%s@%s>;tag=r%d\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: %d REGISTER\r\n"+
			"Contact: <%s>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n", realm, p.addr(), branch(), p.ext, realm, cseq,
			p.ext, realm, callID, cseq, contact)
		if auth != "" {
			s += "Authorization: " + auth + "\r\n"
		}
		return s + "Content-Length: 0\r\n\r\n"
	}
	p.send(build(""))
	r := p.resp(401)
	h, err := sipauth.Authorization(r.GetHeader("WWW-Authenticate").Value(), "REGISTER", "sip:"+realm, p.ext, p.en.pass[p.ext], "cn", 1)
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(build(h))
	p.resp(200)
}

// sdpBody is a phone's SDP: its RTP socket, the given payload types.
func (p *phone) sdpBody(version int, dir string, pts ...int) string {
	var fm []string
	var maps []string
	for _, pt := range pts {
		fm = append(fm, strconv.Itoa(pt))
		switch pt {
		case 0:
			maps = append(maps, "a=rtpmap:0 PCMU/8000")
		case 8:
			maps = append(maps, "a=rtpmap:8 PCMA/8000")
		case 9:
			maps = append(maps, "a=rtpmap:9 G722/8000")
		case 18:
			maps = append(maps, "a=rtpmap:18 G729/8000")
		case 101:
			maps = append(maps, "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16")
		}
	}
	if dir == "" {
		dir = "sendrecv"
	}
	return fmt.Sprintf("v=0\r\no=- 42 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n%s\r\na=ptime:20\r\na=%s\r\n",
		version, p.rtpPort(), strings.Join(fm, " "), strings.Join(maps, "\r\n"), dir)
}

// call places a call to ext with the SDP body, doing the proxy
// authentication round, and returns the dialog (remote tag unset).
func (p *phone) call(to, body string) *pdialog {
	p.t.Helper()
	return p.callWith(to, body)
}

// callWith is call with extra header lines.
func (p *phone) callWith(to, body string, extra ...string) *pdialog {
	p.t.Helper()
	d := &pdialog{callID: fmt.Sprintf("call-%s-%d@test", p.ext, branchSeq.Add(1)), localTag: "t" + strconv.FormatInt(branchSeq.Add(1), 10),
		local: fmt.Sprintf("\"%s\" <sip:%s@%s>", strings.ToUpper(p.ext), p.ext, realm), remote: fmt.Sprintf("<sip:%s@%s>", to, realm), cseq: 1}
	build := func(br, auth string) string {
		s := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
			"From: %s;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d INVITE\r\nContact: <%s>\r\nMax-Forwards: 70\r\n",
			to, realm, p.addr(), br, d.local, d.localTag, d.remote, d.callID, d.cseq, p.contact())
		if auth != "" {
			s += "Proxy-Authorization: " + auth + "\r\n"
		}
		for _, x := range extra {
			s += x + "\r\n"
		}
		if body == "" {
			return s + "Content-Length: 0\r\n\r\n"
		}
		return s + fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	br := branch()
	p.send(build(br, ""))
	r := p.resp(407)
	p.send(fmt.Sprintf("ACK sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\nFrom: %s;tag=%s\r\nTo: %s\r\n"+
		"Call-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", to, realm, p.addr(), br,
		d.local, d.localTag, r.To().Value(), d.callID))
	h, err := sipauth.Authorization(r.GetHeader("Proxy-Authenticate").Value(), "INVITE", "sip:"+to+"@"+realm, p.ext, p.en.pass[p.ext], "cn", 1)
	if err != nil {
		p.t.Fatal(err)
	}
	d.cseq = 2
	d.invite = nil
	br = branch()
	msg := build(br, h)
	p.send(msg)
	p.mu.Lock()
	p.dlg[d.callID] = d
	p.mu.Unlock()
	d.target = "sip:" + to + "@" + realm
	d.branch, d.inviteMsg, d.to = br, msg, to
	return d
}

// cancel cancels the phone's pending INVITE (same branch, RFC 3261 §9.1).
func (p *phone) cancel(d *pdialog) {
	p.send(fmt.Sprintf("CANCEL sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nFrom: %s;tag=%s\r\nTo: %s\r\n"+
		"Call-ID: %s\r\nCSeq: %d CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", d.to, realm, p.addr(), d.branch,
		d.local, d.localTag, d.remote, d.callID, d.cseq))
}

// ackFailure ACKs a failure answer to the phone's INVITE (same branch).
func (p *phone) ackFailure(d *pdialog, r *sip.Response) {
	p.send(fmt.Sprintf("ACK sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nFrom: %s;tag=%s\r\nTo: %s\r\n"+
		"Call-ID: %s\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", d.to, realm, p.addr(), d.branch,
		d.local, d.localTag, r.To().Value(), d.callID, d.cseq))
}

// established records the 2xx of the phone's INVITE: remote tag, target,
// route set (reversed Record-Route).
func (p *phone) established(d *pdialog, r *sip.Response) {
	d.remoteTag = tagOf(r.To().Params)
	d.target = contactURI(r)
	d.answer = r.Body()
	rr := headerValues(r, "Record-Route")
	d.routes = nil
	for i := len(rr) - 1; i >= 0; i-- {
		d.routes = append(d.routes, rr[i])
	}
}

// inDialog sends a request in the dialog and returns the branch.
func (p *phone) inDialog(d *pdialog, method string, cseq int, body string) string {
	br := branch()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", method, d.target, p.addr(), br)
	for _, r := range d.routes {
		b.WriteString("Route: " + r + "\r\n")
	}
	fmt.Fprintf(&b, "From: %s;tag=%s\r\nTo: %s;tag=%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContact: <%s>\r\n",
		d.local, d.localTag, d.remote, d.remoteTag, d.callID, cseq, method, p.contact())
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	p.send(b.String())
	return br
}

func (p *phone) ack(d *pdialog, cseq int) {
	d2 := *d
	p.inDialog(&d2, "ACK", cseq, "")
}

func (p *phone) bye(d *pdialog) {
	p.t.Helper()
	d.cseq++
	p.inDialog(d, "BYE", d.cseq, "")
	p.resp(200)
}

// ringFrom reads the INVITE p receives, answers it 180 with tag and has
// caller read the 180; it returns the INVITE.
func (p *phone) ringFrom(caller *phone, tag string) *sip.Request {
	inv := p.req(sip.INVITE)
	p.respond(inv, 180, tag, "")
	caller.resp(180)
	return inv
}

// acceptCancel answers the CANCEL p receives with 200, then inv with 487
// (to-tag tag), and reads the ACK for it.
func (p *phone) acceptCancel(inv *sip.Request, tag string) {
	p.respond(p.req(sip.CANCEL), 200, "", "")
	p.respond(inv, 487, tag, "")
	p.req(sip.ACK)
}

// answer has p take the INVITE of caller's dialog d: 200 with to-tag tag
// and p's PCMU offer, the caller's ACK read by p. It returns the INVITE p
// got, p's dialog and the 200 the caller got.
func (p *phone) answer(caller *phone, d *pdialog, tag string) (*sip.Request, *pdialog, *sip.Response) {
	inv := p.req(sip.INVITE)
	pd := p.incoming(inv, tag)
	p.respond(inv, 200, tag, p.sdpBody(1, "", 0))
	ok := caller.resp(200)
	caller.established(d, ok)
	caller.ack(d, d.cseq)
	p.req(sip.ACK)
	return inv, pd, ok
}

// answerer side: respond to a received request.
func (p *phone) respond(req *sip.Request, code int, tag, body string) {
	p.t.Helper()
	r := sip.NewResponseFromRequest(req, code, reasonPhrase(code), nil)
	if tag != "" && code > 100 {
		r.To().Params.Add("tag", tag)
	}
	if code >= 180 && code < 300 {
		r.AppendHeader(sip.NewHeader("Contact", "<"+p.contact()+">"))
	}
	if body != "" {
		r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		r.SetBody([]byte(body))
	}
	p.send(r.String())
}

// incoming takes the dialog of a received INVITE (callee side).
func (p *phone) incoming(inv *sip.Request, tag string) *pdialog {
	d := &pdialog{callID: inv.CallID().Value(), localTag: tag, remoteTag: tagOf(inv.From().Params),
		local: stripTag(inv.To().Value()), remote: stripTag(inv.From().Value()), target: contactURI(inv),
		routes: headerValues(inv, "Record-Route"), cseq: 100, invite: inv}
	p.mu.Lock()
	p.dlg[d.callID] = d
	p.mu.Unlock()
	return d
}

// sdpPeer reads the RTP address of an SDP body.
func sdpPeer(t testing.TB, body []byte) netip.AddrPort {
	t.Helper()
	s := string(body)
	var ip string
	var port int
	for _, line := range strings.Split(s, "\r\n") {
		if strings.HasPrefix(line, "c=IN IP4 ") {
			ip = strings.TrimPrefix(line, "c=IN IP4 ")
		}
		if strings.HasPrefix(line, "m=audio ") {
			f := strings.Fields(line)
			port, _ = strconv.Atoi(f[1])
		}
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("no RTP address in SDP:\n%s", s)
	}
	return ap
}

// sendRTP sends n packets of payload type pt to dst with the marker
// payload; returns the payloads sent.
func (p *phone) sendRTP(dst netip.AddrPort, pt uint8, ssrc uint32, seq0 uint16, n int, fill byte) {
	p.t.Helper()
	for i := 0; i < n; i++ {
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		pkt[1] = pt
		binary.BigEndian.PutUint16(pkt[2:], seq0+uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i)*160)
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		for j := 12; j < len(pkt); j++ {
			pkt[j] = fill
		}
		pkt[12] = byte(i)
		if _, err := p.rtp.WriteToUDPAddrPort(pkt, dst); err != nil {
			p.t.Fatal(err)
		}
	}
}

// recvRTP reads RTP until it has a packet whose payload is filled with
// fill, checking the payload type; it returns the source.
func (p *phone) recvRTP(pt uint8, fill byte) netip.AddrPort {
	p.t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(3 * time.Second)
	for {
		_ = p.rtp.SetReadDeadline(deadline)
		n, src, err := p.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			p.t.Fatalf("phone %s: no RTP: %v", p.ext, err)
		}
		if n != 12+160 {
			continue
		}
		if buf[1]&0x7f != pt {
			p.t.Fatalf("phone %s: RTP payload type %d, want %d", p.ext, buf[1]&0x7f, pt)
		}
		if buf[20] == fill && buf[n-1] == fill {
			return src
		}
	}
}

// hangUp sends BYE in d and has peer, the other end of the call, answer
// the B2BUA's BYE with 200.
func (p *phone) hangUp(d *pdialog, peer *phone) {
	p.t.Helper()
	p.bye(d)
	peer.respond(peer.req(sip.BYE), 200, "", "")
}

// setField writes one field of a document of the env's account.
func (en *env) setField(typ, id, field string, v any) {
	en.t.Helper()
	if _, err := en.st.Update(en.t.Context(), en.acct, typ, id, 0, func(b map[string]any) (map[string]any, error) {
		b[field] = v
		return b, nil
	}); err != nil {
		en.t.Fatal(err)
	}
}

// rtpTo sends five packets from p to the node's port dst and checks that
// to receives them from the node's port want (the relay's other leg).
func (p *phone) rtpTo(dst netip.AddrPort, pt uint8, ssrc uint32, seq0 uint16, fill byte, to *phone, want netip.AddrPort) {
	p.t.Helper()
	p.sendRTP(dst, pt, ssrc, seq0, 5, fill)
	if src := to.recvRTP(pt, fill); src != want {
		p.t.Fatalf("phone %s got RTP from phone %s via %s, want %s", to.ext, p.ext, src, want)
	}
}

func firstLine(m sip.Message) string {
	l, _, _ := strings.Cut(m.String(), "\r\n")
	return l
}

// inCall runs f on the goroutine of the call that holds callID (test
// introspection of state that real I/O changes); f is not run when the
// call is gone.
func (en *env) inCall(callID string, f func(*call)) {
	en.t.Helper()
	v, ok := en.b2b.calls.Load(callID)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(en.t.Context(), 2*time.Second)
	defer cancel()
	_ = v.(*call).do(ctx, f)
}

// waitAcked waits until the caller's ACK of our final answer reached the
// call (it stops the retransmissions the fake clock would otherwise fire).
func (en *env) waitAcked(callID string) {
	en.t.Helper()
	waitFor(en.t, "the ACK to reach the node", func() bool {
		acked := false
		en.inCall(callID, func(c *call) { acked = c.a.final == nil || c.a.final.stopped })
		return acked
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

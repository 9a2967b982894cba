package edge

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/sipauth"
)

// base is a valid OPTIONS; each case breaks one thing in it.
func base(u *ua, n int) string {
	return fmt.Sprintf("OPTIONS sip:a.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-v%d\r\n"+
		"From: <sip:x@a.test>;tag=v%d\r\nTo: <sip:a.test>\r\nCall-ID: v%d\r\nCSeq: 7 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", u.addr, n, n, n)
}

func TestValidationRules(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	cases := []struct {
		name  string
		edit  func(string) string
		want  int // 0 = silence
		check func(*testing.T, *sip.Response)
	}{
		{"missing Call-ID", func(s string) string { return drop(s, "Call-ID") }, 400, nil},
		{"missing From", func(s string) string { return drop(s, "From") }, 400, nil},
		{"missing CSeq", func(s string) string { return drop(s, "CSeq") }, 400, nil},
		{"missing To", func(s string) string { return drop(s, "To") }, 400, nil},
		// No Via, no transaction to answer (RFC 3261 §18.2.2 routes
		// responses by the top Via); answering the source address instead
		// would make the edge a reflector for spoofed datagrams.
		{"missing Via", func(s string) string { return drop(s, "Via") }, 0, nil},
		{"bad CSeq number", func(s string) string { return strings.Replace(s, "CSeq: 7", "CSeq: x7", 1) }, 400, nil},
		{"CSeq method mismatch", func(s string) string { return strings.Replace(s, "7 OPTIONS", "7 INVITE", 1) }, 400, nil},
		{"Content-Length larger than body", func(s string) string {
			return strings.Replace(s, "Content-Length: 0", "Content-Length: 40", 1)
		}, 400, nil},
		{"negative Content-Length", func(s string) string {
			return strings.Replace(s, "Content-Length: 0", "Content-Length: -1", 1)
		}, 400, nil},
		{"unparsable Request-URI", func(s string) string { return strings.Replace(s, "sip:a.test SIP", "sip:a.test:99x SIP", 1) }, 400, nil},
		{"unparsable header", func(s string) string { return strings.Replace(s, "To: <sip:a.test>", "To: <sip:a.test", 1) }, 400, nil},
		{"header without colon", func(s string) string { return strings.Replace(s, "Max-Forwards: 70", "Max-Forwards 70", 1) }, 400, nil},
		{"Max-Forwards zero", func(s string) string { return strings.Replace(s, "Max-Forwards: 70", "Max-Forwards: 0", 1) }, 483, nil},
		{"unknown Require", func(s string) string { return add(s, "Require: foo, path") }, 420, func(t *testing.T, r *sip.Response) {
			if h := r.GetHeader("Unsupported"); h == nil || h.Value() != "foo" {
				t.Fatalf("Unsupported = %v", h)
			}
		}},
		{"unknown Proxy-Require", func(s string) string { return add(s, "Proxy-Require: bar") }, 420, nil},
		{"unsupported URI scheme", func(s string) string { return strings.Replace(s, "OPTIONS sip:a.test", "OPTIONS mailto:x@a.test", 1) }, 416, nil},
		{"bad SIP version", func(s string) string { return strings.Replace(s, "a.test SIP/2.0", "a.test SIP/3.0", 1) }, 505, nil},
		{"unsupported body", func(s string) string {
			s = strings.Replace(s, "OPTIONS sip:a.test", "INVITE sip:b@a.test", 1)
			s = strings.Replace(s, "7 OPTIONS", "7 INVITE", 1)
			return strings.Replace(s, "Content-Length: 0\r\n\r\n", "Content-Type: application/x-weird\r\nContent-Length: 4\r\n\r\nabcd", 1)
		}, 415, nil},
		{"stray response", func(s string) string {
			return "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.77:5060;branch=z9hG4bKstray\r\nFrom: <sip:a@a.test>;tag=1\r\n" +
				"To: <sip:b@a.test>;tag=2\r\nCall-ID: stray\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
		}, 0, nil},
		{"scanner user agent", func(s string) string { return add(s, "User-Agent: friendly-scanner") }, 0, nil},
		{"garbage", func(string) string { return "\x00\x01hello there\r\n\r\n" }, 0, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := en.udpUA()
			u.t = t
			u.send(c.edit(base(u, i)))
			if c.want == 0 {
				u.silent()
			} else {
				r := u.resp()
				if r.StatusCode != c.want {
					t.Fatalf("got %d %s, want %d", r.StatusCode, r.Reason, c.want)
				}
				if c.check != nil {
					c.check(t, r)
				}
			}
			u.expectOptionsOK()
		})
	}
	t.Run("tcp missing Content-Length", func(t *testing.T) {
		u := en.tcpUA()
		u.t = t
		u.send(drop(base(u, 99), "Content-Length"))
		if r := u.resp(); r.StatusCode != 400 {
			t.Fatalf("got %d", r.StatusCode)
		}
		u2 := en.tcpUA()
		u2.t = t
		u2.expectOptionsOK()
	})
}

func drop(s, name string) string {
	var out []string
	for _, l := range strings.Split(s, "\r\n") {
		if !strings.HasPrefix(l, name+":") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n")
}

func add(s, line string) string {
	return strings.Replace(s, "Max-Forwards:", line+"\r\nMax-Forwards:", 1)
}

func TestBans(t *testing.T) {
	t.Parallel()
	en := newEnv(t, func(c *Config) {
		c.SourceFailures = 3
		c.BanTime = time.Minute
		c.AllowList = []string{"127.0.0.3/32"}
	})
	fail := func(u *ua) *sip.Response {
		u.send(u.register(regOpts{user: "alice"}))
		ch := u.resp().GetHeader("WWW-Authenticate").Value()
		h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, "alice", "guess", "c", 1)
		u.send(u.register(regOpts{user: "alice", auth: h, contacts: []string{"<sip:a@192.0.2.1>"}}))
		return u.recv(500 * time.Millisecond).(*sip.Response)
	}
	attacker := en.uaFrom("127.0.0.2")
	for i := range 2 {
		if r := fail(attacker); r.StatusCode != 403 {
			t.Fatalf("failure %d: %d", i, r.StatusCode)
		}
	}
	// The third failure bans: no answer, and nothing after either.
	attacker.send(attacker.register(regOpts{user: "alice"}))
	ch := attacker.resp().GetHeader("WWW-Authenticate").Value()
	h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, "alice", "guess", "c", 1)
	attacker.send(attacker.register(regOpts{user: "alice", auth: h, contacts: []string{"<sip:a@192.0.2.1>"}}))
	attacker.silent()
	attacker.send(attacker.options())
	attacker.silent()
	// Another source is still served, and the ban is shared through KV.
	en.udpUA().expectOptionsOK()
	if _, err := en.b.Bans.Get(t.Context(), "MTI3LjAuMC4y"); err != nil {
		t.Fatalf("ban not in KV: %v", err)
	}
	// An allow-listed source is never banned.
	friend := en.uaFrom("127.0.0.3")
	for range 5 {
		if r := fail(friend); r.StatusCode != 403 {
			t.Fatalf("allow-listed source: %d", r.StatusCode)
		}
	}
	friend.expectOptionsOK()
	// The ban ends on the clock.
	en.clk.Advance(61 * time.Second)
	attacker.expectOptionsOK()
}

// TestGuessingCutOffAtTenFailures checks the default: a source guessing
// passwords gets nine 403s, then silence from its tenth failure on, for
// unknown users as for known ones.
func TestGuessingCutOffAtTenFailures(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	attacker := en.uaFrom("127.0.0.6")
	for i := range 10 {
		user := "alice"
		if i%2 == 1 {
			user = fmt.Sprintf("guess%d", i)
		}
		attacker.send(attacker.register(regOpts{user: user}))
		ch := attacker.resp().GetHeader("WWW-Authenticate").Value()
		h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, user, "guess", "c", 1)
		attacker.send(attacker.register(regOpts{user: user, auth: h, contacts: []string{"<sip:a@192.0.2.1>"}}))
		if i < 9 {
			if r := attacker.resp(); r.StatusCode != 403 {
				t.Fatalf("failure %d: %d", i+1, r.StatusCode)
			}
			continue
		}
		attacker.silent()
	}
	attacker.send(attacker.register(regOpts{user: "alice"}))
	attacker.silent()
	en.udpUA().expectOptionsOK()
}

func TestBanSharedBetweenEdges(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	a := netip.MustParseAddr("127.0.0.5")
	en.e.publishBan(t.Context(), a, "test")
	// A second edge on the same bus learns it from KV.
	log := en.e.log
	clk := clock.NewFake(en.clk.Now())
	e2, err := New(Config{Listen: "127.0.0.1:0", NodeID: "edge2", NonceSecret: []byte("test-secret-0123456789")},
		Deps{Logger: log, Clock: clk, Directory: en.dir, Conn: en.srv.Conn, JS: en.srv.JS, Buckets: en.b})
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer e2.Stop(t.Context())
	deadline := time.Now().Add(3 * time.Second)
	for !e2.guard.banned(a) {
		if time.Now().After(deadline) {
			t.Fatal("second edge did not learn the ban")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestScannerAndRateLimit(t *testing.T) {
	t.Parallel()
	en := newEnv(t, func(c *Config) { c.SourceRate = 1; c.SourceBurst = 3 })
	u := en.uaFrom("127.0.0.4")
	for range 3 {
		u.expectOptionsOK()
	}
	u.send(u.options())
	u.silent()
	en.clk.Advance(5 * time.Second)
	u.expectOptionsOK()
}

// FuzzHandle feeds arbitrary datagrams through the edge's message path
// (split, validation, strict parse, answer building) without sockets.
func FuzzHandle(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/rfc4475/*.dat")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := splitRaw(data)
		if !ok || m.response {
			return
		}
		_ = txKey(&m, flow{transport: "udp"})
		v := validate(&m, data, false)
		if v.resp != nil {
			out := v.resp.build(&m, "127.0.0.1", 5060)
			if !strings.HasPrefix(string(out), "SIP/2.0 ") {
				t.Fatalf("bad answer %q", out)
			}
		}
		if v.req != nil {
			_ = v.req.String()
		}
	})
}

func TestNeverBlocks(t *testing.T) {
	for msg, want := range map[string]bool{
		"OPTIONS sip:a.test SIP/2.0\r\n\r\n":                                   true,
		"REGISTER sip:a.test SIP/2.0\r\nTo: <sip:a@a.test>\r\n\r\n":            true,
		"REGISTER sip:a.test SIP/2.0\r\nAuthorization: Digest x\r\n\r\n":       false,
		"REGISTER sip:a.test SIP/2.0\r\nauthorization: Digest x\r\n\r\n":       false,
		"REGISTER sip:a.test SIP/2.0\r\nProxy-AUTHORIZATION: Digest x\r\n\r\n": false,
		"INVITE sip:b@a.test SIP/2.0\r\n\r\n":                                  false,
		"SIP/2.0 200 OK\r\n\r\n":                                               false,
		"REGISTER sip:a.test SIP/2.0\r\nX: authorizatio":                       true,
	} {
		if got := neverBlocks([]byte(msg)); got != want {
			t.Errorf("neverBlocks(%q) = %v, want %v", msg, got, want)
		}
	}
}

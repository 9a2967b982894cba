package edge

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/sipauth"
)

func TestRegisterRefreshUnregister(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			u := en.udpUA()
			if tr == "tcp" {
				u = en.tcpUA()
			}
			u.t = t
			user := "alice"
			if tr == "tcp" {
				user = "bob"
			}
			events, err := en.srv.Conn.SubscribeSync(bus.RegistrationEvent(testAcct, user))
			if err != nil {
				t.Fatal(err)
			}
			defer events.Unsubscribe()
			c1 := "<sip:" + user + "@192.0.2.1:5060>"
			r := u.doRegister(regOpts{user: user, pass: user + "pw", contacts: []string{c1}, expires: "600"})
			if r.StatusCode != 200 {
				t.Fatalf("register: %d", r.StatusCode)
			}
			if got := contactsOf(r); got["sip:"+user+"@192.0.2.1:5060"] != "600" {
				t.Fatalf("contacts %v", got)
			}
			if r.GetHeader("Server") != nil || r.GetHeader("User-Agent") != nil {
				t.Fatal("edge reveals its software")
			}
			msg, err := events.NextMsg(2 * time.Second)
			if err != nil {
				t.Fatalf("no registration event: %v", err)
			}
			var ev RegistrationEvent
			if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Event != "register" ||
				ev.Binding.Username != user || ev.Binding.AccountID != testAcct {
				t.Fatalf("registration event %s: %v", msg.Data, err)
			}
			bs, err := en.e.Location().Lookup(context.Background(), testAcct, user)
			if err != nil || len(bs) != 1 {
				t.Fatalf("lookup: %v %v", bs, err)
			}
			b := bs[0]
			if b.AuthorizingID != "dev-"+user || b.OwnerID != "owner-"+user || b.AuthorizingType != "device" ||
				b.SourceTransport != tr || b.SourceIP != "127.0.0.1" || b.ProxyPort != int(en.e.Addr().Port()) ||
				b.Realm != testRealm || b.ContactIP != "192.0.2.1" || b.ExpiresAt != en.clk.Now().Unix()+600 {
				t.Fatalf("binding %+v", b)
			}
			// A second contact, per-contact expires param wins over the header.
			c2 := "<sip:" + user + "@192.0.2.2:5070>;expires=300"
			r = u.doRegister(regOpts{user: user, pass: user + "pw", contacts: []string{c2}, expires: "900"})
			got := contactsOf(r)
			if r.StatusCode != 200 || len(got) != 2 || got["sip:"+user+"@192.0.2.2:5070"] != "300" {
				t.Fatalf("second contact: %d %v", r.StatusCode, got)
			}
			// Refresh the first with a longer time, after 100 s passed.
			en.clk.Advance(100 * time.Second)
			r = u.doRegister(regOpts{user: user, pass: user + "pw", contacts: []string{c1}, expires: "1200"})
			got = contactsOf(r)
			if got["sip:"+user+"@192.0.2.1:5060"] != "1200" || got["sip:"+user+"@192.0.2.2:5070"] != "200" {
				t.Fatalf("refresh: %v", got)
			}
			// Remove one with Expires: 0 on the contact.
			r = u.doRegister(regOpts{user: user, pass: user + "pw", contacts: []string{"<sip:" + user + "@192.0.2.2:5070>;expires=0"}})
			if got = contactsOf(r); len(got) != 1 {
				t.Fatalf("after removing one: %v", got)
			}
			// Contact: * with Expires: 0 removes everything.
			r = u.doRegister(regOpts{user: user, pass: user + "pw", contacts: []string{"*"}, expires: "0"})
			if r.StatusCode != 200 || len(contactsOf(r)) != 0 {
				t.Fatalf("wildcard removal: %d %v", r.StatusCode, contactsOf(r))
			}
			if bs, _ := en.e.Location().Lookup(context.Background(), testAcct, user); len(bs) != 0 {
				t.Fatalf("bindings left: %v", bs)
			}
		})
	}
}

func TestRegisterExpiryOnClock(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	u := en.udpUA()
	r := u.doRegister(regOpts{user: "alice", pass: "alicepw", contacts: []string{"<sip:alice@192.0.2.1>"}, expires: "60"})
	if r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	ctx := context.Background()
	st, _ := en.e.Location().DeviceStatus(ctx, testAcct)
	if !st["dev-alice"] {
		t.Fatalf("status %v", st)
	}
	en.clk.Advance(61 * time.Second)
	if n, _ := en.e.Location().Count(ctx, testAcct); n != 0 {
		t.Fatalf("count after expiry = %d", n)
	}
	// Registering again after expiry creates it anew (and lists only it).
	r = u.doRegister(regOpts{user: "alice", pass: "alicepw", contacts: []string{"<sip:alice@192.0.2.9>"}, expires: "60"})
	if got := contactsOf(r); len(got) != 1 {
		t.Fatalf("contacts %v", got)
	}
}

func TestRegisterIntervalTooBrief(t *testing.T) {
	t.Parallel()
	en := newEnv(t, func(c *Config) { c.MinExpires = 120; c.MaxExpires = 3600 })
	u := en.udpUA()
	r := u.doRegister(regOpts{user: "alice", pass: "alicepw", contacts: []string{"<sip:alice@192.0.2.1>"}, expires: "30"})
	if r.StatusCode != 423 || r.GetHeader("Min-Expires").Value() != "120" {
		t.Fatalf("got %d %v", r.StatusCode, r.GetHeader("Min-Expires"))
	}
	r = u.doRegister(regOpts{user: "alice", pass: "alicepw", contacts: []string{"<sip:alice@192.0.2.1>"}, expires: "99999"})
	if got := contactsOf(r); r.StatusCode != 200 || got["sip:alice@192.0.2.1"] != "3600" {
		t.Fatalf("max cap: %d %v", r.StatusCode, got)
	}
}

func TestRegisterRetransmissionAbsorbed(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	u := en.udpUA()
	events, _ := en.srv.Conn.SubscribeSync(bus.RegistrationEvent(testAcct, "alice"))
	defer events.Unsubscribe()
	u.send(u.register(regOpts{user: "alice", callID: "rt1"}))
	ch := u.resp().GetHeader("WWW-Authenticate").Value()
	h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, "alice", "alicepw", "c", 1)
	msg := u.register(regOpts{user: "alice", callID: "rt1", auth: h, contacts: []string{"<sip:alice@192.0.2.1>"}, branch: "z9hG4bK-same"})
	u.send(msg)
	first := u.resp()
	u.send(msg)
	second := u.resp()
	if first.StatusCode != 200 || second.String() != first.String() {
		t.Fatalf("retransmission answered differently:\n%s\n%s", first, second)
	}
	if _, err := events.NextMsg(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if m, err := events.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("duplicate event %s", m.Data)
	}
}

// TestChallengeRetransmission: within ChallengeLinger a retransmitted
// REGISTER gets the very same challenge; after it, a fresh one (new nonce)
// that still authenticates — the challenge is not kept for Timer J.
func TestChallengeRetransmission(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	u := en.udpUA()
	msg := u.register(regOpts{user: "alice", callID: "ch1", branch: "z9hG4bK-ch1"})
	u.send(msg)
	first := u.resp()
	en.clk.Advance(4 * time.Second)
	u.send(msg)
	if again := u.resp(); again.String() != first.String() {
		t.Fatalf("retransmission within the linger answered differently:\n%s\n%s", first, again)
	}
	en.clk.Advance(2 * time.Second)
	u.send(msg)
	fresh := u.resp()
	ch := fresh.GetHeader("WWW-Authenticate").Value()
	if fresh.StatusCode != 401 || ch == first.GetHeader("WWW-Authenticate").Value() {
		t.Fatalf("after the linger: %d %s", fresh.StatusCode, ch)
	}
	h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, "alice", "alicepw", "c", 1)
	u.send(u.register(regOpts{user: "alice", callID: "ch1", auth: h, contacts: []string{"<sip:alice@192.0.2.1>"}}))
	if r := u.resp(); r.StatusCode != 200 {
		t.Fatalf("fresh challenge answered: %d", r.StatusCode)
	}
}

// authFailure runs one bad authentication and returns the response.
func TestAuthFailures(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	type attempt struct {
		name               string
		user, authUser, pw string
		realm              string
		want               int
	}
	cases := []attempt{
		{"wrong password", "alice", "alice", "nope", testRealm, 403},
		{"unknown user", "mallory", "mallory", "nope", testRealm, 403},
		{"unknown realm", "alice", "alice", "alicepw", "nowhere.test", 403},
		{"auth user is not To user", "bob", "alice", "alicepw", testRealm, 403},
	}
	var answers []*sip.Response
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := en.udpUA()
			u.t = t
			r := u.doRegister(regOpts{user: c.user, authUser: c.authUser, pass: c.pw, realm: c.realm,
				contacts: []string{"<sip:x@192.0.2.1>"}, callID: "fail" + string(rune('a'+i))})
			if r.StatusCode != c.want {
				t.Fatalf("got %d want %d", r.StatusCode, c.want)
			}
			answers = append(answers, r)
		})
	}
	// Identical code, reason and header names for every failure.
	shape := func(r *sip.Response) string {
		var names []string
		for _, h := range r.Headers() {
			names = append(names, h.Name())
		}
		return r.StartLine() + "|" + strings.Join(names, ",")
	}
	for _, r := range answers[1:] {
		if shape(r) != shape(answers[0]) {
			t.Fatalf("answers differ:\n%s\n%s", shape(answers[0]), shape(r))
		}
	}

	t.Run("stale nonce", func(t *testing.T) {
		u := en.udpUA()
		u.send(u.register(regOpts{user: "alice"}))
		ch := u.resp().GetHeader("WWW-Authenticate").Value()
		en.clk.Advance(6 * time.Minute)
		h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, "alice", "alicepw", "c", 1)
		u.send(u.register(regOpts{user: "alice", auth: h, contacts: []string{"<sip:alice@192.0.2.1>"}}))
		r := u.resp()
		if r.StatusCode != 401 || !strings.Contains(r.GetHeader("WWW-Authenticate").Value(), "stale=true") {
			t.Fatalf("got %d %v", r.StatusCode, r.GetHeader("WWW-Authenticate"))
		}
	})
	t.Run("replayed nc", func(t *testing.T) {
		u := en.udpUA()
		u.send(u.register(regOpts{user: "alice"}))
		ch := u.resp().GetHeader("WWW-Authenticate").Value()
		h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, "alice", "alicepw", "c", 1)
		u.send(u.register(regOpts{user: "alice", auth: h, contacts: []string{"<sip:alice@192.0.2.1>"}}))
		if r := u.resp(); r.StatusCode != 200 {
			t.Fatalf("first use: %d", r.StatusCode)
		}
		// Same credentials in a new transaction: a replay.
		u.send(u.register(regOpts{user: "alice", auth: h, contacts: []string{"<sip:alice@192.0.2.1>"}}))
		if r := u.resp(); r.StatusCode != 401 {
			t.Fatalf("replay: %d", r.StatusCode)
		}
	})
	t.Run("sha-256", func(t *testing.T) {
		en := newEnv(t, func(c *Config) { c.Algorithms = []string{sipauth.MD5, sipauth.SHA256} })
		u := en.udpUA()
		u.send(u.register(regOpts{user: "alice"}))
		r := u.resp()
		var ch string
		for _, h := range r.GetHeaders("WWW-Authenticate") {
			if strings.Contains(h.Value(), "SHA-256") {
				ch = h.Value()
			}
		}
		if ch == "" {
			t.Fatal("no SHA-256 challenge")
		}
		h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, "alice", "alicepw", "c", 1)
		u.send(u.register(regOpts{user: "alice", auth: h, contacts: []string{"<sip:alice@192.0.2.7>"}}))
		if r := u.resp(); r.StatusCode != 200 {
			t.Fatalf("sha-256: %d", r.StatusCode)
		}
	})
}

// TestUnknownUserTiming compares the time to refuse a known user with a
// wrong password and an unknown user; both do the same work.
func TestUnknownUserTiming(t *testing.T) {
	t.Parallel()
	en := newEnv(t, func(c *Config) { c.SourceFailures = 1000 })
	u := en.udpUA()
	measure := func(user string) time.Duration {
		var total time.Duration
		for range 20 {
			u.send(u.register(regOpts{user: user}))
			ch := u.resp().GetHeader("WWW-Authenticate").Value()
			h, _ := sipauth.Authorization(ch, "REGISTER", "sip:"+testRealm, user, "wrong", "c", 1)
			start := time.Now()
			u.send(u.register(regOpts{user: user, auth: h, contacts: []string{"<sip:x@192.0.2.1>"}}))
			if r := u.resp(); r.StatusCode != 403 {
				t.Fatalf("%s: %d", user, r.StatusCode)
			}
			total += time.Since(start)
		}
		return total / 20
	}
	known, unknown := measure("alice"), measure("nobody")
	ratio := float64(known) / float64(unknown)
	if ratio < 0.2 || ratio > 5 {
		t.Fatalf("timing differs: known %s unknown %s", known, unknown)
	}
}

package baresip_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strowger/strowger/test/baresip"
	"github.com/strowger/strowger/test/server"
)

var binary string

func TestMain(m *testing.M) {
	if !baresip.Available() {
		// Every test skips; no need to build.
		os.Exit(m.Run())
	}
	server.Main(m, &binary)
}

// awaitRegistered polls the API until the device is (want=true) or is no
// longer (want=false) listed by /registrations and /devices/status,
// bounded by timeout.
func awaitRegistered(t *testing.T, c *server.Client, acct, user, dev string, want bool, timeout time.Duration, ua *baresip.UA) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		users, devs := c.Registered(t, acct)
		has := slices.Equal(users, []string{user}) && slices.Equal(devs, []string{dev})
		gone := len(users) == 0 && len(devs) == 0
		if (want && has) || (!want && gone) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("registered=%v not reached in %s: registrations %v, devices/status %v\nbaresip log:\n%s",
				want, timeout, users, devs, ua.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func trace() bool { return os.Getenv("BARESIP_TRACE") != "" }

// phone is a softphone registering, with password, as user of an account
// whose realm is realm, against a fresh server.
type phone struct {
	c         *server.Client
	acct, dev string
	ua        *baresip.UA
}

// startPhone starts a server with serverArgs, creates the account and a
// device user with devicePW, and starts baresip registering as user with
// password every regInt seconds; it waits until baresip logs want.
func startPhone(t *testing.T, serverArgs []string, realm, user, devicePW, password string, regInt int, want string) *phone {
	t.Helper()
	s := server.Start(t, binary, serverArgs...)
	p := &phone{c: s.Login(t)}
	p.acct = p.c.CreateAccount(t, "softphones", realm)
	p.dev = p.c.CreateDevice(t, p.acct, user, devicePW)
	p.ua = baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
		User: user, Password: password, Realm: realm, Proxy: s.SIP, RegInt: regInt}},
		Lifetime: time.Minute, Trace: trace()})
	if err := p.ua.WaitLog(want, 0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBaresipRegistersAndUnregisters: a real softphone registers with the
// credentials created through the API, is listed by /registrations and
// /devices/status, and is gone once it unregisters on exit.
func TestBaresipRegistersAndUnregisters(t *testing.T) {
	baresip.SkipIfMissing(t)
	p := startPhone(t, nil, "phones.test", "desk100", "s3cret-Pass", "s3cret-Pass", 600, "200 OK")
	awaitRegistered(t, p.c, p.acct, "desk100", p.dev, true, 5*time.Second, p.ua)
	if info, err := p.ua.Command("reginfo", ""); err != nil || !strings.Contains(info, "desk100") {
		t.Fatalf("reginfo: %q %v", info, err)
	}
	if err := p.ua.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	awaitRegistered(t, p.c, p.acct, "desk100", p.dev, false, 5*time.Second, p.ua)
}

// TestBaresipRegistrationExpires: a softphone that dies without
// unregistering disappears when its short registration expires.
func TestBaresipRegistrationExpires(t *testing.T) {
	baresip.SkipIfMissing(t)
	p := startPhone(t, []string{"--sip-min-expires", "2"}, "expiry.test", "desk200", "An0ther-Pass", "An0ther-Pass", 3, "200 OK")
	awaitRegistered(t, p.c, p.acct, "desk200", p.dev, true, 5*time.Second, p.ua)
	p.ua.Kill() // no unregistration
	killed := time.Now()
	awaitRegistered(t, p.c, p.acct, "desk200", p.dev, false, 10*time.Second, p.ua)
	t.Logf("binding gone %s after the phone died", time.Since(killed).Round(10*time.Millisecond))
}

// TestBaresipWrongPasswordIsRefused: wrong credentials never register.
func TestBaresipWrongPasswordIsRefused(t *testing.T) {
	baresip.SkipIfMissing(t)
	p := startPhone(t, nil, "wrong.test", "desk300", "Right-Pass1", "wrong-pass", 600, "403")
	if users, devs := p.c.Registered(t, p.acct); len(users) != 0 || len(devs) != 0 {
		t.Fatalf("registered with a wrong password: %v %v", users, devs)
	}
}

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

// TestBaresipRegistersAndUnregisters: a real softphone registers with the
// credentials created through the API, is listed by /registrations and
// /devices/status, and is gone once it unregisters on exit.
func TestBaresipRegistersAndUnregisters(t *testing.T) {
	baresip.SkipIfMissing(t)
	s := server.Start(t, binary)
	c := s.Login(t)
	acct := c.CreateAccount(t, "softphones", "phones.test")
	dev := c.CreateDevice(t, acct, "desk100", "s3cret-Pass")
	ua := baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
		User: "desk100", Password: "s3cret-Pass", Realm: "phones.test", Proxy: s.SIP, RegInt: 600}},
		Lifetime: time.Minute, Trace: trace()})
	if err := ua.WaitLog("200 OK", 0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	awaitRegistered(t, c, acct, "desk100", dev, true, 5*time.Second, ua)
	if info, err := ua.Command("reginfo", ""); err != nil || !strings.Contains(info, "desk100") {
		t.Fatalf("reginfo: %q %v", info, err)
	}
	if err := ua.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	awaitRegistered(t, c, acct, "desk100", dev, false, 5*time.Second, ua)
}

// TestBaresipRegistrationExpires: a softphone that dies without
// unregistering disappears when its short registration expires.
func TestBaresipRegistrationExpires(t *testing.T) {
	baresip.SkipIfMissing(t)
	s := server.Start(t, binary, "--sip-min-expires", "2")
	c := s.Login(t)
	acct := c.CreateAccount(t, "softphones", "expiry.test")
	dev := c.CreateDevice(t, acct, "desk200", "An0ther-Pass")
	ua := baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
		User: "desk200", Password: "An0ther-Pass", Realm: "expiry.test", Proxy: s.SIP, RegInt: 3}},
		Lifetime: time.Minute, Trace: trace()})
	if err := ua.WaitLog("200 OK", 0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	awaitRegistered(t, c, acct, "desk200", dev, true, 5*time.Second, ua)
	ua.Kill() // no unregistration
	killed := time.Now()
	awaitRegistered(t, c, acct, "desk200", dev, false, 10*time.Second, ua)
	t.Logf("binding gone %s after the phone died", time.Since(killed).Round(10*time.Millisecond))
}

// TestBaresipWrongPasswordIsRefused: wrong credentials never register.
func TestBaresipWrongPasswordIsRefused(t *testing.T) {
	baresip.SkipIfMissing(t)
	s := server.Start(t, binary)
	c := s.Login(t)
	acct := c.CreateAccount(t, "softphones", "wrong.test")
	c.CreateDevice(t, acct, "desk300", "Right-Pass1")
	ua := baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
		User: "desk300", Password: "wrong-pass", Realm: "wrong.test", Proxy: s.SIP, RegInt: 600}},
		Lifetime: time.Minute, Trace: trace()})
	if err := ua.WaitLog("403", 0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if users, devs := c.Registered(t, acct); len(users) != 0 || len(devs) != 0 {
		t.Fatalf("registered with a wrong password: %v %v", users, devs)
	}
}

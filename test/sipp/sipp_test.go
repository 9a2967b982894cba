// Package sipp runs the SIPp scenarios of this folder against the real
// binary: digest REGISTER of users from a CSV (reg-digest.xml), then their
// removal with Contact: * (unregister.xml). Skipped when sipp is missing
// (scripts/test.sh installs it). bench/reg.sh drives the same kind of load
// at full rate; this test proves the scenarios and the edge agree.
package sipp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strowger/strowger/test/server"
)

var strowgerBin string

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("sipp"); err != nil {
		os.Exit(m.Run())
	}
	server.Main(m, &strowgerBin)
}

// runSIPp runs one scenario over the users in csv at rate/s and fails the
// test unless every "call" succeeded.
func runSIPp(t *testing.T, target, scenario, csv, domain string, n, rate int) {
	t.Helper()
	work := t.TempDir()
	local := server.FreeAddr(t)
	_, port, _ := strings.Cut(local, ":")
	scen, _ := filepath.Abs(scenario)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", target, "-sf", scen, "-inf", csv, "-auth_uri", domain,
		"-i", "127.0.0.1", "-p", port, "-r", strconv.Itoa(rate), "-m", strconv.Itoa(n),
		"-recv_timeout", "5000", "-timeout", "50s", "-nostdin", "-trace_err")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(work, "*errors.log"))
		var errs []byte
		if len(logs) > 0 {
			errs, _ = os.ReadFile(logs[0])
		}
		t.Fatalf("sipp %s: %v\n%s\nerrors:\n%.3000s", filepath.Base(scenario), err, tail(out), errs)
	}
}

func tail(b []byte) string {
	const max = 3000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// TestSIPpDigestRegistration registers 500 users created through the API
// with SIPp's digest REGISTER, checks the API lists all of them, then
// removes them with Contact: *.
func TestSIPpDigestRegistration(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (scripts/test.sh installs it)")
	}
	const n, domain = 500, "sipp.test"
	// The load generator is allow-listed like a monitoring host: 400
	// messages/s from one source is past the default per-source limit.
	s := server.Start(t, strowgerBin, "--sip-allow", "127.0.0.1/32")
	c := s.Login(t)
	acct := c.CreateAccount(t, "sipp", domain)
	csv := filepath.Join(t.TempDir(), "users.csv")
	gen := exec.Command("bash", "gen-users.sh", strconv.Itoa(n), domain)
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("gen-users.sh: %v", err)
	}
	if err := os.WriteFile(csv, out, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.CreateDevice(t, acct, fmt.Sprintf("user%05d", i), fmt.Sprintf("pw%05d", i))
	}
	runSIPp(t, s.SIP, "reg-digest.xml", csv, domain, n, 200)
	if users, devs := c.Registered(t, acct); len(users) != n || len(devs) != n {
		t.Fatalf("after registering: %d registrations, %d registered devices, want %d", len(users), len(devs), n)
	}
	runSIPp(t, s.SIP, "unregister.xml", csv, domain, n, 200)
	if users, devs := c.Registered(t, acct); len(users) != 0 || len(devs) != 0 {
		t.Fatalf("after unregistering: %d registrations, %d registered devices", len(users), len(devs))
	}
}

package baresip_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strowger/strowger/test/baresip"
)

var binary string

func TestMain(m *testing.M) {
	if !baresip.Available() {
		// Every test skips; no need to build.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "strowger-baresip-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strowger")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/strowger")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building strowger:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running `strowger serve` with the edge.
type server struct {
	cmd      *exec.Cmd
	out      *bytes.Buffer
	mu       sync.Mutex
	api, sip string
	key      string
	done     chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs strowger with the nats, api and edge roles and a
// 2-second minimum registration time (so expiry is testable quickly).
func startServer(t *testing.T) *server {
	t.Helper()
	kb := make([]byte, 32)
	_, _ = rand.Read(kb)
	s := &server{out: &bytes.Buffer{}, api: freeAddr(t), sip: freeAddr(t), key: hex.EncodeToString(kb),
		done: make(chan struct{})}
	s.cmd = exec.Command(binary, "serve", "--data", t.TempDir(), "--http", s.api, "--sip", s.sip,
		"--roles", "nats,api,edge", "--master-api-key", s.key, "--log-level", "warn", "--sip-min-expires", "2")
	w := writerFunc(func(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.out.Write(p) })
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.api + "/v2/none")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("strowger exited:\n%s", s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("strowger did not answer on %s:\n%s", s.api, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) log() string { s.mu.Lock(); defer s.mu.Unlock(); return s.out.String() }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// api is a minimal Kazoo API client.
type api struct {
	base, token string
}

func (a *api) do(t *testing.T, method, path string, data any) map[string]any {
	t.Helper()
	var body io.Reader
	if data != nil {
		b, _ := json.Marshal(map[string]any{"data": data})
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if a.token != "" {
		req.Header.Set("X-Auth-Token", a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, env, err)
	}
	return env
}

// provision logs in with the master key and creates an account with realm
// and one device; it returns the account and device IDs.
func provision(t *testing.T, s *server, realm, user, pass string) (*api, string, string) {
	t.Helper()
	a := &api{base: "http://" + s.api}
	env := a.do(t, http.MethodPut, "/v2/api_auth", map[string]any{"api_key": s.key})
	a.token = env["auth_token"].(string)
	master := env["data"].(map[string]any)["account_id"].(string)
	acct := a.do(t, http.MethodPut, "/v2/accounts/"+master, map[string]any{"name": "softphones", "realm": realm})
	acctID := acct["data"].(map[string]any)["id"].(string)
	dev := a.do(t, http.MethodPut, "/v2/accounts/"+acctID+"/devices", map[string]any{
		"name": "baresip " + user, "sip": map[string]any{"username": user, "password": pass}})
	return a, acctID, dev["data"].(map[string]any)["id"].(string)
}

// registered returns the usernames in GET /registrations and the device IDs
// GET /devices/status calls registered.
func registered(t *testing.T, a *api, acct string) (users, devices []string) {
	t.Helper()
	for _, r := range a.do(t, http.MethodGet, "/v2/accounts/"+acct+"/registrations", nil)["data"].([]any) {
		users = append(users, r.(map[string]any)["username"].(string))
	}
	for _, d := range a.do(t, http.MethodGet, "/v2/accounts/"+acct+"/devices/status", nil)["data"].([]any) {
		if m := d.(map[string]any); m["registered"] == true {
			devices = append(devices, m["device_id"].(string))
		}
	}
	return users, devices
}

// awaitRegistered polls the API until the device is (want=true) or is no
// longer (want=false) registered, bounded by timeout.
func awaitRegistered(t *testing.T, a *api, acct, user, dev string, want bool, timeout time.Duration, ua *baresip.UA) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		users, devs := registered(t, a, acct)
		has := len(users) == 1 && users[0] == user && len(devs) == 1 && devs[0] == dev
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

// TestBaresipRegistersAndUnregisters: a real softphone registers with the
// credentials created through the API, is listed by /registrations and
// /devices/status, and is gone once it unregisters on exit.
func TestBaresipRegistersAndUnregisters(t *testing.T) {
	baresip.SkipIfMissing(t)
	s := startServer(t)
	a, acct, dev := provision(t, s, "phones.test", "desk100", "s3cret-Pass")
	ua := baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
		User: "desk100", Password: "s3cret-Pass", Realm: "phones.test", Proxy: s.sip, RegInt: 600}},
		Lifetime: time.Minute, Trace: os.Getenv("BARESIP_TRACE") != ""})
	if err := ua.WaitLog("200 OK", 0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	awaitRegistered(t, a, acct, "desk100", dev, true, 5*time.Second, ua)
	if info, err := ua.Command("reginfo", ""); err != nil || !strings.Contains(info, "desk100") {
		t.Fatalf("reginfo: %q %v", info, err)
	}
	if err := ua.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	awaitRegistered(t, a, acct, "desk100", dev, false, 5*time.Second, ua)
}

// TestBaresipRegistrationExpires: a softphone that dies without
// unregistering disappears when its short registration expires.
func TestBaresipRegistrationExpires(t *testing.T) {
	baresip.SkipIfMissing(t)
	s := startServer(t)
	a, acct, dev := provision(t, s, "expiry.test", "desk200", "An0ther-Pass")
	ua := baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
		User: "desk200", Password: "An0ther-Pass", Realm: "expiry.test", Proxy: s.sip, RegInt: 3}},
		Lifetime: time.Minute, Trace: os.Getenv("BARESIP_TRACE") != ""})
	if err := ua.WaitLog("200 OK", 0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	awaitRegistered(t, a, acct, "desk200", dev, true, 5*time.Second, ua)
	ua.Kill() // no unregistration
	killed := time.Now()
	awaitRegistered(t, a, acct, "desk200", dev, false, 10*time.Second, ua)
	t.Logf("binding gone %s after the phone died", time.Since(killed).Round(10*time.Millisecond))
}

// TestBaresipWrongPasswordIsRefused: wrong credentials never register.
func TestBaresipWrongPasswordIsRefused(t *testing.T) {
	baresip.SkipIfMissing(t)
	s := startServer(t)
	a, acct, _ := provision(t, s, "wrong.test", "desk300", "Right-Pass1")
	ua := baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
		User: "desk300", Password: "wrong-pass", Realm: "wrong.test", Proxy: s.sip, RegInt: 600}},
		Lifetime: time.Minute})
	if err := ua.WaitLog("403", 0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if users, devs := registered(t, a, acct); len(users) != 0 || len(devs) != 0 {
		t.Fatalf("registered with a wrong password: %v %v", users, devs)
	}
}

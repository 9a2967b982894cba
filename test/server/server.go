// Package server builds and runs the real strowger binary for end-to-end
// tests (test/e2e, test/baresip, test/sipp) and talks to its REST API: start on free
// loopback ports with a temporary data folder, log in with the master key,
// create accounts and devices. Processes are stopped by their own PID when
// the test ends. Only tests import it.
package server

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/strowger into dir with the go build flags (e.g.
// "-race") and returns the binary's path.
func Build(dir string, flags ...string) (string, error) {
	bin := filepath.Join(dir, "strowger")
	args := append(append([]string{"build"}, flags...), "-o", bin, "github.com/strowger/strowger/cmd/strowger")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building strowger: %w", err)
	}
	return bin, nil
}

// Main is a TestMain body: it builds the binary (with the go build flags)
// into a temporary folder, sets *bin to its path, runs the tests, removes
// the folder and exits with the tests' code.
func Main(m *testing.M, bin *string, flags ...string) {
	dir, err := os.MkdirTemp("", "strowger-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = Build(dir, flags...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Proc is one running `strowger serve`, killed by its PID when the test
// ends.
type Proc struct {
	cmd  *exec.Cmd
	out  SyncBuffer
	done chan struct{}
}

// SyncBuffer is a bytes.Buffer a child process writes and a test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Spawn runs `bin serve args...` exactly as given, collecting its output;
// it does not wait for the process to be ready (see WaitAPI, WaitLog).
func Spawn(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	return p
}

// wait polls ready every 50 ms for up to 60 s and fails the test when the
// process exits first or the time runs out.
func (p *Proc) wait(t testing.TB, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("strowger exited early:\n%s", p.Log())
		default:
		}
		if ready() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("strowger did not %s:\n%s", what, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitAPI waits until the REST API on addr (host:port) answers.
func (p *Proc) WaitAPI(t testing.TB, addr string) {
	t.Helper()
	p.wait(t, "answer on "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/none")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
}

// WaitLog waits until the process output contains s; for processes
// without the api role.
func (p *Proc) WaitLog(t testing.TB, s string) {
	t.Helper()
	p.wait(t, "log "+strconv.Quote(s), func() bool { return strings.Contains(p.Log(), s) })
}

// Log is what the process printed so far.
func (p *Proc) Log() string { return p.out.String() }

// PID is the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig without waiting.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM and waits up to 30 s for an exit with code 0.
func (p *Proc) Term() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Kill()
		return fmt.Errorf("no exit 30 s after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("exit code %d:\n%s", code, p.Log())
	}
	return nil
}

// Server is one running `strowger serve` with the nats, api and edge roles.
type Server struct {
	*Proc
	// API and SIP are the loopback host:port of the REST API and the SIP
	// edge (UDP and TCP); Key is the master API key.
	API, SIP, Key string
}

// FreeAddr returns a loopback host:port free for TCP and UDP at the time
// of the call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free loopback port")
	return ""
}

// Start runs bin with the nats, api and edge roles on free ports and a
// temporary data folder, plus args (e.g. "--sip-min-expires", "2"), and
// waits until the API answers.
func Start(t testing.TB, bin string, args ...string) *Server {
	t.Helper()
	kb := make([]byte, 32)
	_, _ = rand.Read(kb)
	s := &Server{API: FreeAddr(t), SIP: FreeAddr(t), Key: hex.EncodeToString(kb)}
	s.Proc = Spawn(t, bin, append([]string{"--data", t.TempDir(), "--http", s.API, "--sip", s.SIP,
		"--roles", "nats,api,edge", "--master-api-key", s.Key, "--log-level", "warn"}, args...)...)
	s.WaitAPI(t, s.API)
	return s
}

// Client is a Kazoo API client; Login makes it the master account's.
type Client struct {
	Base, Token, Master string
}

// NewClient is a client, not yet logged in, of the API on addr (host:port).
func NewClient(addr string) *Client { return &Client{Base: "http://" + addr} }

// httpClient bounds every request in time.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// Login authenticates with the server's master API key.
func (s *Server) Login(t testing.TB) *Client {
	t.Helper()
	c := NewClient(s.API)
	c.Login(t, s.Key)
	return c
}

// Login authenticates with the master API key and returns the master
// account's ID; it fails the test unless api_auth answers 201 with a token.
func (c *Client) Login(t testing.TB, key string) string {
	t.Helper()
	code, env, err := c.Request(context.Background(), http.MethodPut, "/v2/api_auth", map[string]any{"api_key": key})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("api_auth: %d %v %v", code, err, env)
	}
	c.Token, _ = env["auth_token"].(string)
	c.Master, _ = env["data"].(map[string]any)["account_id"].(string)
	if c.Token == "" || c.Master == "" {
		t.Fatalf("api_auth: %v", env)
	}
	return c.Master
}

// Request sends data (when not nil) in a {"data":...} envelope to path
// (e.g. "/v2/accounts/ID") and returns the status and decoded envelope.
func (c *Client) Request(ctx context.Context, method, path string, data any) (int, map[string]any, error) {
	var body io.Reader
	if data != nil {
		b, _ := json.Marshal(map[string]any{"data": data})
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if c.Token != "" {
		req.Header.Set("X-Auth-Token", c.Token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("decoding %s %s: %w", method, path, err)
	}
	return resp.StatusCode, env, nil
}

// Do is Request that fails the test on a transport or decoding error or a
// status of 300 or more; it returns the envelope.
func (c *Client) Do(t testing.TB, method, path string, data any) map[string]any {
	t.Helper()
	code, env, err := c.Request(context.Background(), method, path, data)
	if err != nil || code >= 300 {
		t.Fatalf("%s %s: %d %v %v", method, path, code, env, err)
	}
	return env
}

// CreateAccount makes a sub-account of the master with realm; its ID.
func (c *Client) CreateAccount(t testing.TB, name, realm string) string {
	t.Helper()
	env := c.Do(t, http.MethodPut, "/v2/accounts/"+c.Master, map[string]any{"name": name, "realm": realm})
	return env["data"].(map[string]any)["id"].(string)
}

// CreateDevice makes a device with SIP credentials; its ID.
func (c *Client) CreateDevice(t testing.TB, account, user, password string) string {
	t.Helper()
	env := c.Do(t, http.MethodPut, "/v2/accounts/"+account+"/devices", map[string]any{
		"name": user, "sip": map[string]any{"username": user, "password": password}})
	return env["data"].(map[string]any)["id"].(string)
}

// Registered returns the usernames GET /registrations lists and the device
// IDs GET /devices/status calls registered.
func (c *Client) Registered(t testing.TB, account string) (users, devices []string) {
	t.Helper()
	for _, r := range c.Do(t, http.MethodGet, "/v2/accounts/"+account+"/registrations", nil)["data"].([]any) {
		users = append(users, r.(map[string]any)["username"].(string))
	}
	for _, d := range c.Do(t, http.MethodGet, "/v2/accounts/"+account+"/devices/status", nil)["data"].([]any) {
		if m := d.(map[string]any); m["registered"] == true {
			devices = append(devices, m["device_id"].(string))
		}
	}
	return users, devices
}

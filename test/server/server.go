// Package server builds and runs the real strowger binary for end-to-end
// tests (test/baresip, test/sipp) and talks to its REST API: start on free
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
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/strowger into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "strowger")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/strowger/strowger/cmd/strowger")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building strowger: %w", err)
	}
	return bin, nil
}

// Server is one running `strowger serve`.
type Server struct {
	// API and SIP are the loopback host:port of the REST API and the SIP
	// edge (UDP and TCP); Key is the master API key.
	API, SIP, Key string

	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
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
	s := &Server{API: FreeAddr(t), SIP: FreeAddr(t), Key: hex.EncodeToString(kb), done: make(chan struct{})}
	full := append([]string{"serve", "--data", t.TempDir(), "--http", s.API, "--sip", s.SIP,
		"--roles", "nats,api,edge", "--master-api-key", s.Key, "--log-level", "warn"}, args...)
	s.cmd = exec.Command(bin, full...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
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
		resp, err := http.Get("http://" + s.API + "/v2/none")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("strowger exited:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("strowger did not answer on %s:\n%s", s.API, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Write collects the process output.
func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// Log is what the process printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// PID is the server's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Client is a Kazoo API client logged in as the master account.
type Client struct {
	Base, Token, Master string
}

// Login authenticates with the master API key.
func (s *Server) Login(t testing.TB) *Client {
	t.Helper()
	c := &Client{Base: "http://" + s.API}
	env := c.Do(t, http.MethodPut, "/v2/api_auth", map[string]any{"api_key": s.Key})
	c.Token, _ = env["auth_token"].(string)
	c.Master, _ = env["data"].(map[string]any)["account_id"].(string)
	if c.Token == "" || c.Master == "" {
		t.Fatalf("api_auth: %v", env)
	}
	return c
}

// Do sends data in a {"data":...} envelope and fails the test on a
// transport error or a status of 300 or more; it returns the envelope.
func (c *Client) Do(t testing.TB, method, path string, data any) map[string]any {
	t.Helper()
	var body io.Reader
	if data != nil {
		b, _ := json.Marshal(map[string]any{"data": data})
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if c.Token != "" {
		req.Header.Set("X-Auth-Token", c.Token)
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

// Package e2e runs the real strowger binary and talks to it like a client
// would. These tests cross process boundaries: kill -9, restarts, roles
// split over processes.
package e2e

import (
	"bytes"
	"context"
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
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strowger-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strowger")
	build := exec.Command("go", "build", "-race", "-o", binary, "../../cmd/strowger")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building strowger:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer the child process and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is one running strowger process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	addr string
	done chan struct{}
}

// freePort asks the OS for a free loopback port.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs `strowger serve` with args and waits until the API answers.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	addr := freePort(t)
	full := append([]string{"serve", "--http", addr, "--sip", freePort(t), "--log-level", "warn"}, args...)
	cmd := exec.Command(binary, full...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, out: out, addr: addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("strowger exited early:\n%s", out.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/v2/none")
		if err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("strowger did not answer on %s:\n%s", addr, out.String())
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// term sends SIGTERM and waits for a clean exit.
func (p *proc) term() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
		return fmt.Errorf("no exit 30 s after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("exit code %d:\n%s", code, p.out.String())
	}
	return nil
}

// client is a Kazoo API client.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newClient(addr string) *client {
	return &client{base: "http://" + addr + "/v2", http: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a request and decodes the envelope.
func (c *client) do(ctx context.Context, method, path string, data any) (int, map[string]any, error) {
	var body io.Reader
	if data != nil {
		b, _ := json.Marshal(map[string]any{"data": data})
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	resp, err := c.http.Do(req)
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

func (c *client) login(t *testing.T, key string) string {
	t.Helper()
	code, env, err := c.do(context.Background(), http.MethodPut, "/api_auth", map[string]any{"api_key": key})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("api_auth: %d %v %v", code, err, env)
	}
	c.token = env["auth_token"].(string)
	return env["data"].(map[string]any)["account_id"].(string)
}

func field(env map[string]any, path ...string) any {
	var cur any = env
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func masterKey() string { return strings.Repeat("k", 40) + "e2e" }

// Package e2e runs the real strowger binary and talks to it like a client
// would. These tests cross process boundaries: kill -9, restarts, roles
// split over processes.
package e2e

import (
	"strings"
	"testing"

	"github.com/strowger/strowger/test/server"
)

var binary string

func TestMain(m *testing.M) { server.Main(m, &binary, "-race") }

// proc is one running strowger process; addr is its API's host:port.
type proc struct {
	*server.Proc
	addr string
}

// freePort returns a free loopback host:port.
func freePort(t *testing.T) string { return server.FreeAddr(t) }

// start runs `strowger serve` with args and waits until the API answers.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	addr := freePort(t)
	p := server.Spawn(t, binary, append([]string{"--http", addr, "--sip", freePort(t), "--log-level", "warn"}, args...)...)
	p.WaitAPI(t, addr)
	return &proc{Proc: p, addr: addr}
}

// client is a Kazoo API client.
type client = server.Client

func newClient(addr string) *client { return server.NewClient(addr) }

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

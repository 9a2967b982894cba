// Package bustest starts a real embedded NATS server with JetStream for
// tests. Only _test.go files import it.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
)

// Server is a test NATS server with one client connection.
type Server struct {
	Embedded *bus.Embedded
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Dir      string
}

// Start runs an embedded server in t.TempDir() and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn runs an embedded server with its store in dir (to test restarts).
func StartIn(t testing.TB, dir string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: dir, ServerName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := e.Connect("test")
	if err != nil {
		e.Shutdown()
		t.Fatal(err)
	}
	js, err := bus.JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Embedded: e, Conn: nc, JS: js, Dir: dir}
	t.Cleanup(s.Stop)
	return s
}

// Stop closes the connection and shuts the server down; safe to call twice.
func (s *Server) Stop() {
	if s.Conn != nil {
		s.Conn.Close()
		s.Conn = nil
	}
	if s.Embedded != nil {
		s.Embedded.Shutdown()
		s.Embedded = nil
	}
}

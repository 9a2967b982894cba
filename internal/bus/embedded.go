package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EmbeddedOptions configures the in-process NATS server.
type EmbeddedOptions struct {
	// StoreDir is where JetStream keeps its file store.
	StoreDir string
	// Listen, when not empty, is a host:port where the server also accepts
	// clients and other nodes. Empty means in-process connections only.
	Listen string
	// ServerName names the server; it must be stable across restarts.
	ServerName string
	// Logger receives the server's own log lines.
	Logger *slog.Logger
	// SyncInterval, when not zero, replaces fsync-on-every-write with an
	// fsync of all pending data at this interval. Writes still reach the
	// kernel before they are acknowledged (they survive kill -9); a power
	// loss or kernel crash may lose up to one interval of them.
	SyncInterval time.Duration
}

// Embedded is a running in-process NATS server with JetStream.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a NATS server with JetStream in this process.
//
// By default every file-store write is fsynced before it is acknowledged
// (SyncAlways): configuration, CDRs and voicemail must survive a crash of
// the process or of the machine. High-rate ephemeral state lives in
// memory-storage buckets, which this does not slow.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	opts := &server.Options{
		ServerName:         o.ServerName,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		SyncAlways:         o.SyncInterval == 0,
		SyncInterval:       o.SyncInterval,
		DontListen:         o.Listen == "",
		NoSigs:             true,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 1 << 30,
	}
	if o.Listen != "" {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats listen port %q: %w", port, err)
		}
		opts.Host, opts.Port = host, p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("creating embedded nats: %w", err)
	}
	if o.Logger != nil {
		srv.SetLoggerV2(&natsLogger{l: o.Logger}, false, false, false)
	}
	go srv.Start()
	deadline := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !srv.ReadyForConnections(deadline) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats not ready after %s", deadline)
	}
	return &Embedded{srv: srv}, nil
}

// Connect opens an in-process client connection to the embedded server.
func (e *Embedded) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(e.srv), nats.Name(name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connecting to embedded nats: %w", err)
	}
	return nc, nil
}

// ClientURL is the URL other processes can use, or "" when not listening.
func (e *Embedded) ClientURL() string {
	if addr := e.srv.Addr(); addr != nil {
		return "nats://" + addr.String()
	}
	return ""
}

// Shutdown stops the server and waits for it to finish.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// Dial connects to an external NATS server or cluster.
func Dial(url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connecting to nats %s: %w", url, err)
	}
	return nc, nil
}

// JetStream returns a JetStream context on nc.
func JetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, nil
}

// natsLogger adapts slog to the server's logger interface.
type natsLogger struct{ l *slog.Logger }

func (n *natsLogger) Noticef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Debugf(format string, v ...any)  {}
func (n *natsLogger) Tracef(format string, v ...any)  {}

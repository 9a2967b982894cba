package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
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
	// Sync says when writes reach stable storage; the zero value is SyncGroup.
	Sync SyncMode
	// SyncInterval is the period of SyncPeriodic, and of the background
	// flush of writes nobody asked to sync in SyncGroup (default 1s).
	SyncInterval time.Duration
}

// SyncMode says when file-store writes reach stable storage. In every mode
// a write reaches the kernel before it is acknowledged, so it survives
// kill -9 of the process; the modes differ on power loss.
type SyncMode int

const (
	// SyncGroup: writers that need a write on disk before they answer
	// (configuration, CDRs, voicemail) call RequestSync after it, and one
	// flush of the store serves every writer waiting at that moment (group
	// commit). Anything else is flushed every SyncInterval. Where group
	// commit is not supported it falls back to SyncEveryWrite.
	SyncGroup SyncMode = iota
	// SyncEveryWrite: JetStream fsyncs every file-store write before
	// acknowledging it, one fsync per message under the stream's lock.
	SyncEveryWrite
	// SyncPeriodic: fsync every SyncInterval; RequestSync answers at once,
	// so a power loss may lose up to one interval of acknowledged writes.
	SyncPeriodic
)

// String names the mode as --fsync spells it.
func (m SyncMode) String() string {
	switch m {
	case SyncGroup:
		return "always"
	case SyncEveryWrite:
		return "per-write"
	case SyncPeriodic:
		return "periodic"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// defaultBackgroundSync is SyncGroup's flush period for unrequested writes.
const defaultBackgroundSync = time.Second

// Embedded is a running in-process NATS server with JetStream.
type Embedded struct {
	srv     *server.Server
	mode    SyncMode
	group   *groupSync
	release func()
	syncNC  *nats.Conn
}

// StartEmbedded starts a NATS server with JetStream in this process.
//
// It answers RequestSync on StoreSync according to o.Sync: by default
// (SyncGroup) after a flush of the store that began after the request, so
// configuration, CDRs and voicemail survive a crash of the process or of
// the machine once acknowledged. High-rate ephemeral state lives in
// memory-storage buckets, which no mode slows.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	e := &Embedded{mode: o.Sync}
	if e.mode == SyncGroup && !groupCommitSupported {
		e.mode = SyncEveryWrite
	}
	interval := o.SyncInterval
	switch e.mode {
	case SyncGroup:
		if interval == 0 {
			interval = defaultBackgroundSync
		}
	case SyncPeriodic:
		if interval <= 0 {
			return nil, fmt.Errorf("embedded nats: periodic sync needs an interval")
		}
	case SyncEveryWrite:
		interval = 0
	default:
		return nil, fmt.Errorf("embedded nats: unknown sync mode %d", int(e.mode))
	}
	if e.mode == SyncGroup {
		if err := os.MkdirAll(o.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating store folder: %w", err)
		}
		flush, release, err := storeFlusher(o.StoreDir)
		if err != nil {
			return nil, err
		}
		e.group, e.release = newGroupSync(flush), release
	}
	opts := &server.Options{
		ServerName:         o.ServerName,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		SyncAlways:         e.mode == SyncEveryWrite,
		SyncInterval:       interval,
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
		e.stopSyncer()
		return nil, fmt.Errorf("creating embedded nats: %w", err)
	}
	e.srv = srv
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
		e.stopSyncer()
		return nil, fmt.Errorf("embedded nats not ready after %s", deadline)
	}
	if err := e.serveSync(); err != nil {
		e.Shutdown()
		return nil, err
	}
	return e, nil
}

// serveSync answers RequestSync. The handler never blocks: in SyncGroup it
// queues the reply behind the next flush.
func (e *Embedded) serveSync() error {
	nc, err := e.Connect("strowger-store-sync")
	if err != nil {
		return err
	}
	e.syncNC = nc
	_, err = nc.QueueSubscribe(StoreSync, "sync", func(m *nats.Msg) {
		if e.group == nil {
			_ = m.Respond(nil)
			return
		}
		e.group.enqueue(func(err error) {
			var body []byte
			if err != nil {
				body = []byte(err.Error())
			}
			_ = m.Respond(body)
		})
	})
	if err != nil {
		return fmt.Errorf("serving store sync: %w", err)
	}
	// The subscription must be live before any writer asks.
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("serving store sync: %w", err)
	}
	return nil
}

// Sync makes every write acknowledged so far durable, as RequestSync does
// over the bus, for code that holds the embedded server itself.
func (e *Embedded) Sync(ctx context.Context) error {
	if e.group == nil {
		return nil
	}
	return e.group.Sync(ctx)
}

// SyncMode is the mode the server runs in (after any fallback).
func (e *Embedded) SyncMode() SyncMode { return e.mode }

// SyncRounds counts group-commit flushes so far (0 outside SyncGroup).
func (e *Embedded) SyncRounds() uint64 {
	if e.group == nil {
		return 0
	}
	return e.group.rounds.Load()
}

func (e *Embedded) stopSyncer() {
	if e.group != nil {
		e.group.stop()
	}
	if e.release != nil {
		e.release()
		e.release = nil
	}
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

// Shutdown stops the server and waits for it to finish. Writes still
// waiting for a sync get one last flush first.
func (e *Embedded) Shutdown() {
	// Flush for the writers already waiting and answer them; requests
	// arriving after that are answered with ErrSyncClosed.
	e.stopSyncer()
	if e.syncNC != nil {
		e.syncNC.Close()
	}
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

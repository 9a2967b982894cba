// Package node builds one Strowger process: the bus, the store and the
// enabled roles, started in order and stopped in reverse. It is the only
// package that imports the roles; the roles never import each other.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/api"
	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/b2bua"
	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/config"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/store"

	// Every callflow module, registered for validation and execution.
	_ "github.com/strowger/strowger/internal/callflow/modules/all"
)

// Version is set at build time with -ldflags "-X …/node.Version=…".
var Version = "0.1.0-dev"

// tokenTTL is how long API tokens live (Kazoo's default).
const tokenTTL = time.Hour

// Node is one running process.
type Node struct {
	cfg     *config.Config
	log     *slog.Logger
	out     io.Writer
	clock   clock.Clock
	nats    *bus.Embedded
	nc      *nats.Conn
	st      *store.Store
	httpSrv *http.Server
	httpLn  net.Listener
	stops   []func(context.Context)
}

// New prepares a node; Start brings it up.
func New(cfg *config.Config, log *slog.Logger, out io.Writer) *Node {
	return &Node{cfg: cfg, log: log, out: out, clock: clock.Real()}
}

// syncMode maps --fsync to the embedded server's mode.
func syncMode(fsync string) bus.SyncMode {
	switch fsync {
	case "per-write":
		return bus.SyncEveryWrite
	case "interval":
		return bus.SyncPeriodic
	}
	return bus.SyncGroup
}

// Start starts the enabled roles in order: NATS, storage, API, edge, media.
// On error, whatever started is stopped again.
func (n *Node) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			n.Stop(context.Background())
		}
	}()
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data folder: %w", err)
	}
	if n.cfg.Has(config.RoleNATS) {
		n.nats, err = bus.StartEmbedded(ctx, bus.EmbeddedOptions{
			StoreDir:     filepath.Join(n.cfg.DataDir, "jetstream"),
			Listen:       n.cfg.NATSListen,
			ServerName:   n.cfg.NodeName,
			Logger:       n.log.With("role", "nats"),
			Sync:         syncMode(n.cfg.Fsync),
			SyncInterval: n.cfg.FsyncInterval,
		})
		if err != nil {
			return err
		}
		n.stops = append(n.stops, func(context.Context) { n.nats.Shutdown() })
		n.nc, err = n.nats.Connect(n.cfg.NodeName)
	} else {
		n.nc, err = bus.Dial(n.cfg.NATSURL, n.cfg.NodeName)
	}
	if err != nil {
		return err
	}
	n.stops = append(n.stops, func(context.Context) { _ = n.nc.Drain() })
	js, err := bus.JetStream(n.nc)
	if err != nil {
		return err
	}
	buckets, err := store.Provision(ctx, js, store.ProvisionOptions{Replicas: 1})
	if err != nil {
		return err
	}
	n.st = store.New(buckets, n.nc, n.log.With("component", "store"), n.clock)
	if n.cfg.Has(config.RoleAPI) {
		if err := n.startAPI(ctx, js); err != nil {
			return err
		}
	}
	if n.cfg.Has(config.RoleEdge) {
		if err := n.startEdge(ctx, js); err != nil {
			return err
		}
	}
	if n.cfg.Has(config.RoleMedia) {
		if err := n.startMedia(ctx, js); err != nil {
			return err
		}
	}
	if n.cfg.PprofAddr != "" {
		if err := n.startPprof(); err != nil {
			return err
		}
	}
	n.log.Info("strowger started", "version", Version, "node", n.cfg.NodeName, "roles", n.cfg.Roles,
		"http", n.HTTPAddr(), "data", n.cfg.DataDir)
	return nil
}

func (n *Node) startAPI(ctx context.Context, js jetstream.JetStream) error {
	master, err := bootstrapMaster(ctx, n.st, n.cfg.DataDir, n.cfg.MasterAPIKey, n.out)
	if err != nil {
		return err
	}
	if n.cfg.Demo {
		if err := bootstrapDemo(ctx, n.st, master, n.cfg.SIPAddr, n.out); err != nil {
			return err
		}
	}
	signer, err := auth.NewSigner(ctx, n.st, store.SystemSigningKey, tokenTTL, n.clock)
	if err != nil {
		return err
	}
	srv := api.New(api.Config{NodeName: n.cfg.NodeName, Version: Version}, api.Deps{
		Store: n.st, Signer: signer, Log: n.log.With("role", "api"), Clock: n.clock, Master: master,
		Registrations: registrations{loc: location.New(js, n.st.Buckets().Registrations, n.clock)},
		Channels:      b2bua.NewChannels(n.st.Buckets().Calls, n.clock),
		CDRs:          cdr.NewReader(js, n.log.With("component", "cdr"), cdr.ReaderOptions{}),
	})
	n.stops = append(n.stops, func(context.Context) { srv.Close() })
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("api listen: %w", err)
	}
	n.httpLn = ln
	n.httpSrv = &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api server stopped", "err", err)
		}
	}()
	n.stops = append(n.stops, func(ctx context.Context) { _ = n.httpSrv.Shutdown(ctx) })
	return nil
}

// startPprof serves Go's runtime profiles on their own listener, never on
// the API's: operators reach them on loopback to see goroutines and heap.
func (n *Node) startPprof() error {
	ln, err := net.Listen("tcp", n.cfg.PprofAddr)
	if err != nil {
		return fmt.Errorf("pprof listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("pprof server stopped", "err", err)
		}
	}()
	n.stops = append(n.stops, func(ctx context.Context) { _ = srv.Shutdown(ctx) })
	return nil
}

// HTTPAddr is the API's listening address ("" without the api role).
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// Store exposes the document store (tests and tools).
func (n *Node) Store() *store.Store { return n.st }

// Stop stops the roles in reverse order of starting.
func (n *Node) Stop(ctx context.Context) {
	for i := len(n.stops) - 1; i >= 0; i-- {
		n.stops[i](ctx)
	}
	n.stops = nil
}

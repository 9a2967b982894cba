// Package edge is the SIP front door of Strowger (role "edge"): UDP and TCP
// listeners, request validation (RFC 3261, RFC 4475), the registrar with
// digest authentication, scanner and flood defence, and the relay of
// dialogs to media nodes over NATS (contract in package sipbus).
//
// Roles never import each other: edge imports bus, store, location,
// sipauth, sipbus and clock, and is wired by the node package only.
//
// Goroutines: Start launches the UDP readers, the TCP accept loop (one
// reader goroutine per connection), the NATS subscriptions and a janitor;
// requests are handled by a pool of at most Config.Workers goroutines that
// exit after a while idle. Stop closes the sockets, waits for all of them, and
// returns. Lock order: Edge.mu (connections) is never held while taking
// txCache, guard or nodes locks.
package edge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/sipauth"
	"github.com/strowger/strowger/internal/store"
)

// Directory finds device credentials; internal/store implements it.
type Directory interface {
	// SIPCredential returns the credentials for username in realm.
	// found=false, err=nil when the realm or the user does not exist (or
	// the device/account is disabled).
	SIPCredential(ctx context.Context, realm, username string) (cred store.SIPCredential, found bool, err error)
}

// Config is how one edge runs. Zero values take the documented defaults.
type Config struct {
	// Listen is the UDP and TCP address (same port for both). Default
	// "127.0.0.1:5060"; port 0 lets the OS choose (tests).
	Listen string
	// Advertise is the host:port put in Via and Record-Route; default the
	// bound listen address.
	Advertise string
	// NodeID names this edge on the bus (sipbus.Envelope.Edge). Required.
	NodeID string
	// NonceSecret signs digest nonces; the same on every edge, ≥ 16 bytes.
	// Required.
	NonceSecret []byte
	// NonceTTL is how long a nonce may be used. Default 5 minutes.
	NonceTTL time.Duration
	// Algorithms offered in challenges, in order. Default MD5 only: phones
	// built on libre (baresip and others) give up on a challenge set that
	// contains any algorithm they do not know, and MD5 is what every phone
	// has. Offer SHA-256 too (after MD5: many phones take the first
	// challenge only) where the phones are known to cope. Credentials with
	// either algorithm are accepted whatever was offered.
	Algorithms []string
	// MinExpires, DefaultExpires and MaxExpires bound registrations in
	// seconds. Defaults 60, 3600, 7200.
	MinExpires, DefaultExpires, MaxExpires int
	// MaxContacts is the most bindings one address of record keeps; the
	// oldest go first. Default 10.
	MaxContacts int
	// SourceFailures is how many failed authentications from one source
	// address within FailureWindow get it banned. Default 10.
	SourceFailures int
	// AccountFailures is how many failed authentications against one
	// account within FailureWindow put the account under attack; while
	// under attack a source is banned after AttackSourceFailures failures
	// against it. Defaults 50 and 3.
	AccountFailures, AttackSourceFailures int
	// FailureWindow is the counting window. Default 10 minutes.
	FailureWindow time.Duration
	// BanTime is how long a banned source gets silence. Default 15 minutes.
	BanTime time.Duration
	// AllowList holds CIDRs that are never banned nor rate limited
	// (carriers, monitors).
	AllowList []string
	// SourceRate and SourceBurst limit requests per second per source
	// address. Defaults 100 and 200.
	SourceRate  float64
	SourceBurst int
	// ScannerAgents are User-Agent substrings dropped silently
	// (case-insensitive). Default: well-known scanners (scannerAgents).
	ScannerAgents []string
	// TxLinger is how long the edge remembers its own final answers to
	// absorb UDP retransmissions (RFC 3261 Timer J = 64*T1). Default 32 s.
	TxLinger time.Duration
	// ChallengeLinger is how long a 401/407 challenge is remembered
	// instead. A phone that got its challenge never resends that request,
	// and one whose challenge was lost and that retransmits later gets a
	// fresh one, which it uses as well; so challenges, half of what a
	// registration leaves behind, need not stay for Timer J. Default 5 s
	// (Kamailio's tm wait timer); never longer than TxLinger.
	ChallengeLinger time.Duration
	// Workers bounds requests handled at once. Default 1024.
	Workers int
	// CredentialCache bounds the SIP credentials (found or not) kept in
	// memory. Default 100,000.
	CredentialCache int
	// NodeAnswerTimeout is how long a media node may leave a new INVITE
	// without any answer (not even 100 Trying) before the edge tries
	// another node (retry.go). Default 2 s.
	NodeAnswerTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:5060"
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = 5 * time.Minute
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{sipauth.MD5}
	}
	if c.MinExpires == 0 {
		c.MinExpires = 60
	}
	if c.DefaultExpires == 0 {
		c.DefaultExpires = 3600
	}
	if c.MaxExpires == 0 {
		c.MaxExpires = 7200
	}
	if c.MaxContacts == 0 {
		c.MaxContacts = 10
	}
	if c.SourceFailures == 0 {
		c.SourceFailures = 10
	}
	if c.AccountFailures == 0 {
		c.AccountFailures = 50
	}
	if c.AttackSourceFailures == 0 {
		c.AttackSourceFailures = 3
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = 10 * time.Minute
	}
	if c.BanTime == 0 {
		c.BanTime = 15 * time.Minute
	}
	if c.SourceRate == 0 {
		c.SourceRate = 100
	}
	if c.SourceBurst == 0 {
		c.SourceBurst = 200
	}
	if c.ScannerAgents == nil {
		c.ScannerAgents = scannerAgents
	}
	if c.TxLinger == 0 {
		c.TxLinger = 32 * time.Second
	}
	if c.ChallengeLinger == 0 {
		c.ChallengeLinger = 5 * time.Second
	}
	c.ChallengeLinger = min(c.ChallengeLinger, c.TxLinger)
	if c.Workers == 0 {
		c.Workers = 1024
	}
	if c.CredentialCache == 0 {
		c.CredentialCache = 100_000
	}
	if c.NodeAnswerTimeout <= 0 {
		c.NodeAnswerTimeout = defaultNodeAnswerTimeout
	}
}

// Deps are the edge's collaborators.
type Deps struct {
	Logger    *slog.Logger
	Clock     clock.Clock
	Directory Directory
	Conn      *nats.Conn
	JS        jetstream.JetStream
	Buckets   *store.Buckets
}

// Edge is one running SIP edge.
type Edge struct {
	cfg   Config
	log   *slog.Logger
	clk   clock.Clock
	creds *credCache // the Directory, cached
	nc    *nats.Conn
	b     *store.Buckets
	loc   *location.Store
	auth  *sipauth.Nonces
	tx    *txCache
	guard *guard
	nodes *nodeTable
	// owners remembers call owners for the epoch checks (owners.go).
	owners *ownerCache
	fwd    *fwdCache
	invs   *invites // new INVITEs relayed to media nodes (retry.go)

	udp      *net.UDPConn
	tcp      *net.TCPListener
	addr     netip.AddrPort // bound address
	advHost  string
	advPort  int
	sem      chan struct{} // one slot per running worker
	jobs     chan job      // to idle workers (unbuffered)
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[netip.AddrPort]*tcpConn
	subs     []*nats.Subscription
	stopOnce sync.Once
	// dummyPassword is what unknown users are checked against, so their
	// failures cost the same work as a wrong password.
	dummyPassword string
}

// New checks the configuration and builds an edge; Start opens the sockets.
func New(cfg Config, deps Deps) (*Edge, error) {
	cfg.setDefaults()
	if cfg.NodeID == "" {
		return nil, errors.New("edge: NodeID is required")
	}
	if deps.Logger == nil || deps.Clock == nil || deps.Directory == nil || deps.Conn == nil ||
		deps.JS == nil || deps.Buckets == nil {
		return nil, errors.New("edge: Logger, Clock, Directory, Conn, JS and Buckets are required")
	}
	if cfg.MinExpires > cfg.MaxExpires || cfg.DefaultExpires < cfg.MinExpires {
		return nil, fmt.Errorf("edge: expires bounds inconsistent (min %d, default %d, max %d)",
			cfg.MinExpires, cfg.DefaultExpires, cfg.MaxExpires)
	}
	nonces, err := sipauth.NewNonces(cfg.NonceSecret, cfg.NonceTTL, deps.Clock)
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	g, err := newGuard(cfg, deps.Clock)
	if err != nil {
		return nil, err
	}
	e := &Edge{
		cfg:    cfg,
		log:    deps.Logger.With("role", "edge", "node", cfg.NodeID),
		clk:    deps.Clock,
		nc:     deps.Conn,
		b:      deps.Buckets,
		loc:    location.New(deps.JS, deps.Buckets.Registrations, deps.Clock),
		auth:   nonces,
		tx:     newTxCache(deps.Clock, cfg.TxLinger),
		guard:  g,
		nodes:  newNodeTable(deps.Clock),
		owners: newOwnerCache(),
		fwd:    newFwdCache(deps.Clock),
		invs:   newInvites(),
		sem:    make(chan struct{}, cfg.Workers),
		jobs:   make(chan job),
		conns:  make(map[netip.AddrPort]*tcpConn),
	}
	e.creds = newCredCache(deps.Directory, deps.Clock, cfg.CredentialCache,
		func() uint64 { return deps.Conn.Stats().Reconnects })
	var rb [16]byte
	_, _ = rand.Read(rb[:])
	e.dummyPassword = hex.EncodeToString(rb[:])
	return e, nil
}

// Addr is the bound UDP/TCP address (valid after Start).
func (e *Edge) Addr() netip.AddrPort { return e.addr }

// Location exposes the location store (the api role builds its own).
func (e *Edge) Location() *location.Store { return e.loc }

// listen binds UDP and TCP on the same address. With port 0 the kernel
// picks a UDP port whose TCP twin may be taken by another socket: a few
// fresh picks are tried before giving up.
func (e *Edge) listen(ua *net.UDPAddr) error {
	const attempts = 8
	for i := 0; ; i++ {
		udp, err := net.ListenUDP("udp", ua)
		if err != nil {
			return fmt.Errorf("edge: listening on udp %s: %w", e.cfg.Listen, err)
		}
		_ = udp.SetReadBuffer(8 << 20)
		bound := udp.LocalAddr().(*net.UDPAddr).AddrPort()
		tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(bound))
		if err != nil {
			_ = udp.Close()
			if ua.Port == 0 && i < attempts-1 {
				continue
			}
			return fmt.Errorf("edge: listening on tcp %s: %w", bound, err)
		}
		e.udp, e.tcp, e.addr = udp, tcp, bound
		return nil
	}
}

// Start opens the listeners and subscriptions and returns once serving.
func (e *Edge) Start(ctx context.Context) error {
	e.ctx, e.cancel = context.WithCancel(context.Background())
	ua, err := net.ResolveUDPAddr("udp", e.cfg.Listen)
	if err != nil {
		return fmt.Errorf("edge: listen address %q: %w", e.cfg.Listen, err)
	}
	if err := e.listen(ua); err != nil {
		return err
	}
	bound := e.addr
	e.addr = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())
	e.advHost, e.advPort = e.addr.Addr().String(), int(e.addr.Port())
	if e.cfg.Advertise != "" {
		h, p, err := net.SplitHostPort(e.cfg.Advertise)
		if err != nil {
			e.closeSockets()
			return fmt.Errorf("edge: advertise address %q: %w", e.cfg.Advertise, err)
		}
		e.advHost = h
		e.advPort, _ = strconv.Atoi(p)
	}
	if err := e.loc.StartMirror(ctx); err != nil {
		e.closeSockets()
		return fmt.Errorf("edge: %w", err)
	}
	if err := e.startBus(ctx); err != nil {
		e.loc.StopMirror()
		e.closeSockets()
		return err
	}
	readers := runtime.GOMAXPROCS(0)
	for range readers {
		e.wg.Add(1)
		go e.readUDP()
	}
	e.wg.Add(1)
	go e.acceptTCP()
	e.wg.Add(1)
	go e.janitor()
	e.log.Info("sip edge listening", "addr", e.addr.String())
	return nil
}

// Stop closes the listeners and waits for every goroutine the edge owns.
func (e *Edge) Stop(ctx context.Context) {
	e.stopOnce.Do(func() {
		if e.cancel == nil {
			return
		}
		e.cancel()
		for _, s := range e.subs {
			_ = s.Unsubscribe()
		}
		e.closeSockets()
		e.mu.Lock()
		for _, c := range e.conns {
			_ = c.c.Close()
		}
		e.mu.Unlock()
		done := make(chan struct{})
		go func() { e.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			e.log.Warn("edge stop: goroutines still running at deadline")
		}
		e.loc.StopMirror()
	})
}

func (e *Edge) closeSockets() {
	if e.udp != nil {
		_ = e.udp.Close()
	}
	if e.tcp != nil {
		_ = e.tcp.Close()
	}
}

// janitor drops expired transaction, forwarding and guard state once a
// second on the edge's clock.
func (e *Edge) janitor() {
	defer e.wg.Done()
	t := e.clk.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C():
			e.tx.sweep()
			e.fwd.sweep()
			e.invs.sweep(e.clk.Now())
			e.guard.sweep()
			e.loc.Sweep()
			t.Reset(time.Second)
		}
	}
}

// flow is where a message came from and how to answer it.
type flow struct {
	transport string // "udp" or "tcp"
	remote    netip.AddrPort
	conn      *tcpConn // tcp only
}

func (f flow) ip() string { return f.remote.Addr().Unmap().String() }

// send writes b to the flow.
func (e *Edge) send(f flow, b []byte) {
	var err error
	switch f.transport {
	case "tcp":
		if f.conn == nil {
			err = errors.New("no connection")
		} else {
			err = f.conn.write(b)
		}
	default:
		_, err = e.udp.WriteToUDPAddrPort(b, f.remote)
	}
	if err != nil && e.ctx.Err() == nil {
		e.log.Debug("sip send failed", "to", f.remote.String(), "transport", f.transport, "err", err)
	}
}

// job is one message waiting for a worker.
type job struct {
	data []byte
	f    flow
}

// workerIdle is how long a worker waits for more work before it exits.
const workerIdle = 10 * time.Second

// dispatch hands a message to an idle worker, or starts one while fewer
// than Config.Workers run, or else waits for one. Workers outlive their
// message: reusing them spares a goroutine start and its stack growth per
// request, which showed in profiles at thousands of requests a second.
func (e *Edge) dispatch(data []byte, f flow) {
	j := job{data: data, f: f}
	select {
	case e.jobs <- j:
		return
	default:
	}
	select {
	case e.jobs <- j:
	case e.sem <- struct{}{}:
		e.wg.Add(1)
		go e.worker(j)
	case <-e.ctx.Done():
	}
}

// worker handles j, then further jobs until idle for workerIdle or the
// edge stops.
func (e *Edge) worker(j job) {
	defer e.wg.Done()
	defer func() { <-e.sem }()
	var idle clock.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		e.handle(j.data, j.f)
		select {
		case j = <-e.jobs:
			continue
		default:
		}
		// Going idle: only now pay for a timer.
		if idle == nil {
			idle = e.clk.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case j = <-e.jobs:
			idle.Stop()
		case <-idle.C():
			return
		case <-e.ctx.Done():
			return
		}
	}
}

// neverBlocks reports messages whose handling never waits on the bus or
// the directory: a REGISTER without credentials (answered with a
// challenge) and OPTIONS. A false negative only costs a worker handoff.
func neverBlocks(data []byte) bool {
	switch {
	case bytes.HasPrefix(data, []byte("OPTIONS ")):
		return true
	case bytes.HasPrefix(data, []byte("REGISTER ")):
		// Any spelling of Authorization (or the header name elsewhere)
		// sends it to a worker.
		const name = "authorization"
		for i := 0; i+len(name) <= len(data); i++ {
			if (data[i] == 'a' || data[i] == 'A') && asciiEqualFold(data[i:i+len(name)], name) {
				return false
			}
		}
		return true
	}
	return false
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := range len(lower) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// maxDatagram is the largest SIP message the edge takes.
const maxDatagram = 65535

func (e *Edge) readUDP() {
	defer e.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := e.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 4 {
			// Keep-alive CRLFs and stray bytes.
			continue
		}
		data := make([]byte, n)
		copy(data, buf[:n])
		f := flow{transport: "udp", remote: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}
		if neverBlocks(data) {
			// Answered from memory: handing it to a worker would cost more
			// than the work itself.
			e.handle(data, f)
			continue
		}
		e.dispatch(data, f)
	}
}

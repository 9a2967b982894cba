package b2bua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

// Router runs the routing of a new call: in production the account's
// dialplan lookup and the callflow engine. It returns when it is done with
// the call; whatever the call still needs then (a final answer to an
// unanswered caller, a BYE) the B2BUA does itself.
type Router interface {
	Route(ctx context.Context, call callflow.Call) error
}

// RouterFunc adapts a function to Router.
type RouterFunc func(ctx context.Context, call callflow.Call) error

// Route implements Router.
func (f RouterFunc) Route(ctx context.Context, call callflow.Call) error { return f(ctx, call) }

// Docs reads tenant documents (implemented by *store.Store).
type Docs interface {
	Get(ctx context.Context, account, typ, id string) (*store.Doc, error)
	List(ctx context.Context, account, typ string) ([]*store.Doc, error)
}

// Config is how the B2BUA runs.
type Config struct {
	// NodeID names this media node (bus subjects, ownership, CDRs).
	NodeID string
	// RTPIP is the address announced in SDP and bound for RTP.
	RTPIP netip.Addr
	// RTPTimeout ends a bridged call whose media stopped for this long
	// (0: 60 s; negative disables).
	RTPTimeout time.Duration
	// RTPEngine is the relay's packet engine (media.EngineAuto by default).
	RTPEngine media.Engine
	// T1 is the RFC 3261 round-trip estimate (0: 500 ms).
	T1 time.Duration
	// DefaultRingTimeout bounds a bridge whose request gives no timeout
	// (0: 20 s, Kazoo's default).
	DefaultRingTimeout time.Duration
	// MaxSetupCalls bounds the calls in setup: new INVITEs whose caller
	// has had neither a ringing/early answer nor a final one yet. Past it
	// new INVITEs get 503 with Retry-After (0: 300; negative disables).
	MaxSetupCalls int
	// MinFreePortPairs refuses new INVITEs with 503 while fewer RTP port
	// pairs are free (0: 2, the pairs one call needs; negative disables).
	MinFreePortPairs int
	// MaxCalls bounds the live calls of this node (those being refused
	// included): past it new INVITEs get the overload 503 (0 or negative:
	// unbounded). It also scales the load the node announces.
	MaxCalls int
	// OverloadRetryAfter is the Retry-After sent with an overload 503,
	// rounded up to whole seconds (0: 5 s).
	OverloadRetryAfter time.Duration
}

// Deps are what the B2BUA uses.
type Deps struct {
	Conn     *nats.Conn
	Buckets  *store.Buckets
	Docs     Docs
	Location *location.Store
	CDRs     *cdr.Writer
	Ports    *media.Ports
	Router   Router
	Clock    clock.Clock
	Logger   *slog.Logger
}

// SIP timer constants (RFC 3261 §17, Table 4).
const (
	defaultT1 = 500 * time.Millisecond
	t2        = 4 * time.Second
)

// Server is the B2BUA of one media node.
type Server struct {
	cfg Config
	d   Deps
	clk clock.Clock
	log *slog.Logger

	// calls maps every Call-ID the node handles (caller leg and callee
	// legs) to its call; sync.Map keeps the call path free of a global
	// lock.
	calls sync.Map // string → *call
	chans sync.Map // string → *chanEntry: legs in the channel index (channels.go)
	js    jetstream.JetStream
	gone  sync.Map // string → *tombstone: finished callers' Call-IDs
	// binEdges holds the edges whose last envelope was binary: they read
	// it too (sipbus package doc), so they get binary back.
	binEdges sync.Map // string → bool
	live     atomic.Int64
	// setup counts calls in setup, refused and overload the overload
	// state (overload.go).
	setup    atomic.Int64
	refused  atomic.Int64
	overload atomic.Bool

	ctx      context.Context
	cancel   context.CancelFunc
	sub      *nats.Subscription
	docSub   *nats.Subscription // document events for the cache in d.Docs
	wg       sync.WaitGroup     // heartbeat goroutine
	callsWG  sync.WaitGroup     // one per call loop
	draining atomic.Bool
	started  time.Time
}

// New checks the configuration and dependencies.
func New(cfg Config, d Deps) (*Server, error) {
	if cfg.NodeID == "" || !cfg.RTPIP.IsValid() {
		return nil, errors.New("b2bua: node id and rtp ip are required")
	}
	if d.Conn == nil || d.Buckets == nil || d.Docs == nil || d.Location == nil || d.CDRs == nil || d.Ports == nil || d.Router == nil {
		return nil, errors.New("b2bua: missing dependency")
	}
	if cfg.RTPTimeout == 0 {
		cfg.RTPTimeout = 60 * time.Second
	}
	if cfg.T1 <= 0 {
		cfg.T1 = defaultT1
	}
	if cfg.DefaultRingTimeout <= 0 {
		cfg.DefaultRingTimeout = time.Duration(callflow.DefaultRingTimeout) * time.Second
	}
	if cfg.MaxSetupCalls == 0 {
		cfg.MaxSetupCalls = defaultMaxSetupCalls
	}
	if cfg.MinFreePortPairs == 0 {
		cfg.MinFreePortPairs = 2
	}
	if cfg.OverloadRetryAfter <= 0 {
		cfg.OverloadRetryAfter = 5 * time.Second
	}
	if d.Clock == nil {
		d.Clock = clock.Real()
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(d.Conn)
	if err != nil {
		return nil, fmt.Errorf("b2bua: jetstream: %w", err)
	}
	return &Server{cfg: cfg, d: d, js: js, clk: d.Clock, log: d.Logger.With("node", cfg.NodeID)}, nil
}

// Start subscribes to the node's SIP subject and starts heart-beating.
func (s *Server) Start(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.started = s.clk.Now()
	// Documents are read through a cache kept fresh by document events
	// (doccache.go); it is in place before the first call can read.
	dc := newDocCache(s.d.Docs, s.clk, docCacheMax, nil)
	dsub, err := dc.subscribe(s.d.Conn)
	if err != nil {
		return fmt.Errorf("b2bua: subscribing to document events: %w", err)
	}
	_ = dsub.SetPendingLimits(1<<16, 64<<20)
	dc.entries.SetEpoch(func() uint64 {
		n := s.d.Conn.Stats().Reconnects
		if d, err := dsub.Dropped(); err == nil {
			n += uint64(d)
		} else {
			n += 1 << 32 // unsubscribed: nothing invalidates any more
		}
		return n
	})
	s.d.Docs, s.docSub = dc, dsub
	sub, err := s.d.Conn.Subscribe(bus.MediaNodeSIP(s.cfg.NodeID), func(m *nats.Msg) { s.receive(m.Data) })
	if err != nil {
		return fmt.Errorf("b2bua: subscribing %s: %w", bus.MediaNodeSIP(s.cfg.NodeID), err)
	}
	// Messages for many calls arrive on one subject; the handler only
	// parses and hands over to the call's goroutine, so a generous pending
	// limit absorbs bursts.
	_ = sub.SetPendingLimits(1<<16, 64<<20)
	s.sub = sub
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.d.Conn.FlushWithContext(fctx); err != nil {
		_ = sub.Unsubscribe()
		_ = dsub.Unsubscribe()
		return fmt.Errorf("b2bua: flushing subscription: %w", err)
	}
	if err := s.beat(ctx); err != nil {
		_ = sub.Unsubscribe()
		_ = dsub.Unsubscribe()
		return err
	}
	s.wg.Add(2)
	go s.heartbeats()
	go s.refreshChannels()
	s.log.Info("b2bua started", "rtp_ip", s.cfg.RTPIP, "rtp_capacity", s.d.Ports.Capacity())
	return nil
}

// Stop stops taking calls, ends every live call with BYE (or a final
// answer to an unanswered caller), waits for them to finish within ctx and
// removes the node's heartbeat.
func (s *Server) Stop(ctx context.Context) {
	if s.cancel == nil {
		return
	}
	s.draining.Store(true)
	// Tell the edges at once, not at the next beat: no new calls here.
	if err := s.beat(ctx); err != nil {
		s.log.Warn("draining heartbeat failed", "err", err)
	}
	s.calls.Range(func(_, v any) bool {
		v.(*call).post(func(c *call) { c.shutdown() })
		return true
	})
	done := make(chan struct{})
	go func() { s.callsWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("calls still live at shutdown", "calls", s.live.Load())
	}
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	if s.docSub != nil {
		_ = s.docSub.Unsubscribe()
	}
	s.cancel()
	s.wg.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.d.Buckets.Nodes.Delete(dctx, store.NodeKey(s.cfg.NodeID))
}

// LiveCalls is the number of calls in progress.
func (s *Server) LiveCalls() int { return int(s.live.Load()) }

func (s *Server) load() float64 {
	capacity := s.d.Ports.Capacity() / 2 // two port pairs per call
	if s.cfg.MaxCalls > 0 && s.cfg.MaxCalls < capacity {
		capacity = s.cfg.MaxCalls
	}
	if capacity <= 0 {
		return 1
	}
	return float64(s.live.Load()) / float64(capacity)
}

func (s *Server) beat(ctx context.Context) error {
	now := s.clk.Now()
	hb := sipbus.Heartbeat{ID: s.cfg.NodeID, SIPSubject: bus.MediaNodeSIP(s.cfg.NodeID), Load: s.load(),
		StartedAt: s.started, ExpiresAt: now.Add(sipbus.NodeTTL), Draining: s.draining.Load(),
		Envelope: sipbus.BinaryVersion}
	b, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("b2bua: encoding heartbeat: %w", err)
	}
	if _, err := s.d.Buckets.Nodes.Put(ctx, store.NodeKey(s.cfg.NodeID), b); err != nil {
		return fmt.Errorf("b2bua: writing heartbeat: %w", err)
	}
	return nil
}

// heartbeats beats every sipbus.HeartbeatEvery on the injected clock
// until Stop.
func (s *Server) heartbeats() {
	defer s.wg.Done()
	t := s.clk.NewTimer(sipbus.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C():
		}
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		if err := s.beat(ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("heartbeat failed", "err", err)
		}
		cancel()
		t.Reset(sipbus.HeartbeatEvery)
	}
}

// inbound is one SIP message from an edge, parsed.
type inbound struct {
	env  sipbus.Envelope
	req  *sip.Request
	resp *sip.Response
}

// parseInbound decodes one envelope from an edge and the SIP message it
// carries, refusing anything without the headers every handler reads.
func parseInbound(data []byte) (inbound, error) {
	env, err := sipbus.Unmarshal(data)
	if err != nil {
		return inbound{}, err
	}
	msg, err := sip.ParseMessage(env.Msg)
	if err != nil {
		return inbound{}, fmt.Errorf("parsing SIP from edge %q: %w", env.Edge, err)
	}
	if msg.CallID() == nil || msg.CSeq() == nil || msg.From() == nil || msg.To() == nil || msg.Via() == nil {
		return inbound{}, fmt.Errorf("SIP from edge %q without Call-ID, CSeq, From, To or Via", env.Edge)
	}
	in := inbound{env: env}
	switch m := msg.(type) {
	case *sip.Request:
		in.req = m
	case *sip.Response:
		in.resp = m
	default:
		return inbound{}, fmt.Errorf("SIP from edge %q: unknown message type", env.Edge)
	}
	return in, nil
}

// receive runs on the subscription's goroutine: parse, find the call,
// hand over. It never blocks on a call.
func (s *Server) receive(data []byte) {
	in, err := parseInbound(data)
	if err != nil {
		s.log.Warn("bad message from edge", "err", err)
		return
	}
	s.noteEdge(in.env)
	msg := msgOf(in)
	callID := msg.CallID().Value()
	if v, ok := s.calls.Load(callID); ok {
		v.(*call).post(func(c *call) { c.onMessage(in) })
		return
	}
	if in.req == nil {
		return // a response for a leg that is gone
	}
	if v, ok := s.gone.Load(callID); ok {
		v.(*tombstone).absorb(s, in)
		return
	}
	switch {
	case in.req.Method == sip.INVITE && !in.req.To().Params.Has("tag"):
		s.newCall(in)
	case in.req.Method == sip.ACK:
	default:
		s.respondStateless(in, 481, "")
	}
}

// tombstone is what a finished call leaves for 64·T1 (timer J): the
// edge forwards every copy of a UDP request, so late retransmissions of
// the caller's INVITE or of an in-dialog request must get their answer
// again instead of starting a new call or a 481.
type tombstone struct {
	invite []byte            // last answer to the INVITE
	stx    map[string][]byte // in-dialog answers by branch
}

func (t *tombstone) absorb(s *Server, in inbound) {
	req := in.req
	switch {
	case req.Method == sip.ACK:
	case req.Method == sip.INVITE && !req.To().Params.Has("tag"):
		if t.invite != nil {
			s.sendResponse(in.env, "", 0, t.invite)
		}
	default:
		if prev, ok := t.stx[topBranch(req)]; ok {
			s.sendResponse(in.env, "", 0, prev)
			return
		}
		s.respondStateless(in, 481, "")
	}
}

// bury keeps a finished call's answers for retransmissions.
func (s *Server) bury(callID string, invite []byte, stx map[string][]byte) {
	t := &tombstone{invite: invite, stx: stx}
	s.gone.Store(callID, t)
	s.clk.AfterFunc(64*s.cfg.T1, func() { s.gone.CompareAndDelete(callID, t) })
}

// respondStateless answers a request outside any call.
func (s *Server) respondStateless(in inbound, code int, reason string, extra ...string) {
	s.sendResponse(in.env, "", 0, buildResponse(in.req, code, reason, respOpts{toTag: newTag(), extra: extra}))
}

// sendResponse publishes a response back to the edge that relayed the request.
func (s *Server) sendResponse(req sipbus.Envelope, callID string, epoch uint64, msg []byte) {
	env := sipbus.Envelope{Kind: sipbus.KindResponse, Edge: req.Edge, Node: s.cfg.NodeID, Flow: req.Flow,
		CallID: callID, Epoch: epoch, Msg: msg}
	s.publish(bus.EdgeNodeSIP(req.Edge), env)
}

// noteEdge remembers whether the edge that sent env writes (and so reads)
// binary envelopes.
func (s *Server) noteEdge(env sipbus.Envelope) {
	if env.Edge == "" {
		return
	}
	bin := env.V >= sipbus.BinaryVersion
	if v, ok := s.binEdges.Load(env.Edge); !ok || v.(bool) != bin {
		s.binEdges.Store(env.Edge, bin)
	}
}

// envBufs recycles the buffers of binary envelopes: Publish copies the
// payload into the connection's buffer before it returns.
var envBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// publish sends env to env.Edge on subject: binary when that edge's last
// envelope was binary, else JSON, which every release reads.
func (s *Server) publish(subject string, env sipbus.Envelope) {
	if v, ok := s.binEdges.Load(env.Edge); ok && v.(bool) {
		bp := envBufs.Get().(*[]byte)
		*bp = env.AppendBinary((*bp)[:0])
		if err := s.d.Conn.Publish(subject, *bp); err != nil {
			s.log.Warn("publishing SIP failed", "subject", subject, "err", err)
		}
		if cap(*bp) <= 64<<10 {
			envBufs.Put(bp)
		}
		return
	}
	b, err := env.Marshal()
	if err != nil {
		s.log.Error("encoding envelope failed", "err", err)
		return
	}
	if err := s.d.Conn.Publish(subject, b); err != nil {
		s.log.Warn("publishing SIP failed", "subject", subject, "err", err)
	}
}

// ErrOwnedElsewhere is putCall's answer when a new leg's call key is
// already there: another node has the call.
var ErrOwnedElsewhere = errors.New("b2bua: the call is owned by another node")

// putCall writes a leg's ownership and checkpoint key, and its entry in
// the account's channel index when its channel changed.
func (s *Server) putCall(ctx context.Context, callID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding call checkpoint: %w", err)
	}
	rec, isRec := v.(Record)
	_, known := s.chans.Load(callID)
	if isRec && !known && store.IsID(rec.AccountID) {
		// The leg's first write claims the key: a node that wakes up late
		// with a call the edge has since placed elsewhere (retry.go in
		// package edge) must not take the key from the node that has it.
		if _, err := s.d.Buckets.Calls.Create(ctx, store.CallKey(callID), b); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("writing call %s: %w", callID, ErrOwnedElsewhere)
			}
			return fmt.Errorf("writing call %s: %w", callID, err)
		}
	} else if _, err := s.d.Buckets.Calls.Put(ctx, store.CallKey(callID), b); err != nil {
		return fmt.Errorf("writing call %s: %w", callID, err)
	}
	if isRec {
		if err := s.indexChannel(ctx, callID, rec); err != nil {
			// The call goes on; only GET /channels misses it until the
			// next change or refresh.
			s.log.Warn("indexing channel failed", "call_id", callID, "err", err)
		}
	}
	return nil
}

func (s *Server) deleteCall(ctx context.Context, callID string) {
	s.unindexChannel(ctx, callID)
	if err := s.d.Buckets.Calls.Purge(ctx, store.CallKey(callID)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		s.log.Warn("removing call key failed", "call_id", callID, "err", err)
	}
}

// event publishes a call event on bus.CallEvent.
func (s *Server) event(account, name, callID string, ev callEvent) {
	ev.EventName, ev.CallID, ev.AccountID, ev.MediaServer = name, callID, account, s.cfg.NodeID
	ev.Timestamp = store.GregorianSeconds(s.clk.Now())
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	if err := s.d.Conn.Publish(bus.CallEvent(account, name, callID), b); err != nil {
		s.log.Warn("publishing call event failed", "event", name, "err", err)
	}
}

package media

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/sdp"
)

// LegID names one of the two legs of a Relay.
type LegID uint8

// The two legs. Which is the caller is the B2BUA's convention.
const (
	LegA LegID = iota
	LegB
)

func (l LegID) String() string {
	if l == LegA {
		return "a"
	}
	return "b"
}

// LegSpec is what signalling negotiated for one leg, from the peer's SDP.
type LegSpec struct {
	// Peer and PeerRTCP are where the peer's SDP asks for RTP and RTCP. A
	// zero Peer means "not known yet": nothing is sent until the peer's
	// own packets are latched on or Update gives one.
	Peer, PeerRTCP netip.AddrPort
	// Send are the formats with the numbers the peer receives
	// (sdp.Negotiated.Codecs); Recv those the peer sends us
	// (sdp.Negotiated.RecvCodecs).
	Send, Recv []sdp.Codec
	// Direction is what the peer declared (sdp.Negotiated.RemoteDirection).
	Direction sdp.Direction
	// Origin is our o= line toward this peer; the relay only keeps it in
	// State so a node taking the call over can re-offer id, version+1.
	Origin sdp.Origin
}

// SpecFromSDP fills a LegSpec from a negotiation with the leg's peer.
func SpecFromSDP(n *sdp.Negotiated, origin sdp.Origin) LegSpec {
	return LegSpec{
		Peer: n.Remote, PeerRTCP: n.RemoteRTCP,
		Send: slices.Clone(n.Codecs), Recv: slices.Clone(n.RecvCodecs),
		Direction: n.RemoteDirection, Origin: origin,
	}
}

// Leg is one side of a relay at creation: its sockets (which the relay
// takes over and closes) and its negotiated spec.
type Leg struct {
	Ports *PortPair
	Spec  LegSpec
}

// LatchPolicy says when the relay trusts a packet's source as the peer's
// real media address (symmetric RTP, RFC 4961 / comedia).
//
// Rules, per leg:
//   - Until latched, a valid RTP packet (negotiated payload type) from the
//     exact RTP address of the peer's SDP latches at once.
//   - A packet from any other source (the peer is behind NAT, or a stranger)
//     is only latched on after Probation consecutive packets from that one
//     source with one SSRC and consecutive sequence numbers; the probing
//     packets are dropped. A stranger spraying single packets never wins.
//   - Once latched, packets from other sources are dropped, unless the
//     latched source has sent nothing valid for RelatchIdle: then a new
//     source may take over after the same probation (a phone that changed
//     network without a re-INVITE). A stranger cannot take over a live
//     stream.
//   - RTCP latches on its first valid packet from the SDP RTCP address or
//     from the latched RTP peer's IP, and follows RTP re-latching.
//   - Update with a changed SDP address starts over (signalling moved the
//     media); a restored State keeps its latch, so a node taking a call
//     over sends to the learned address at once.
type LatchPolicy struct {
	// Probation is the number of consecutive packets a source other than
	// the SDP address must send; 0 means 3. 1 latches on the first packet.
	Probation int
	// RelatchIdle is how long the latched source must be silent before
	// another may take over; 0 means 1s, negative never re-latches.
	RelatchIdle time.Duration
}

// DefaultTimeout is the RTP inactivity timeout when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// Config is the environment of a Relay.
type Config struct {
	Clock  clock.Clock  // nil means clock.Real()
	Logger *slog.Logger // scoped to the call by the caller; nil discards
	// Timeout is how long a leg's peer may send no RTP before OnTimeout is
	// called for it; 0 means DefaultTimeout, negative disables.
	Timeout time.Duration
	// HoldTimeout replaces Timeout while either leg is not sendrecv (held
	// phones often send nothing at all); 0 or negative disables it.
	HoldTimeout time.Duration
	// OnTimeout is called, from a timer goroutine, at most once per leg and
	// per Update, when the leg's media died. It must not block; it may call
	// Close.
	OnTimeout func(LegID)
	Latch     LatchPolicy
	// Engine moves the packets; the zero value picks the platform's best.
	Engine Engine
}

// maxPacket is the read buffer: larger than any RTP packet on an Ethernet
// path; a datagram that fills it was truncated and is dropped.
const maxPacket = 2048

// maxReadErrors stops a reader whose socket keeps failing instead of
// spinning on it.
const maxReadErrors = 1000

// Relay anchors the media of one call: it relays RTP and RTCP between two
// legs, each with its own local socket pair on the node's address.
type Relay struct {
	engine      Engine // resolved: EngineGoroutines or EngineEpoll
	clk         clock.Clock
	log         *slog.Logger
	onTimeout   func(LegID)
	timeout     time.Duration
	holdTimeout time.Duration
	probation   int
	relatchIdle time.Duration

	legs  [2]*leg
	flows [2]*flow // flows[i] carries packets from legs[i] to the other leg
	// suspended stops all sending (the node's lease on the call lapsed)
	// while sockets and state stay.
	suspended atomic.Bool

	mu       sync.Mutex // guards below and the legs' spec fields
	closed   bool
	timer    clock.Timer
	timedOut [2]bool

	wg sync.WaitGroup // EngineGoroutines: the four readers
	ep epollRelay     // EngineEpoll: where the sockets are registered
}

// peerState is where a leg's peer is, replaced whole (copy on write) so the
// other leg's reader can load it without a lock.
type peerState struct {
	sdp     netip.AddrPort // from signalling
	addr    netip.AddrPort // where we send now
	latched bool
	gen     uint64 // changes when signalling resets the latch
}

func (p *peerState) sendable() bool {
	return p.addr.IsValid() && p.addr.Port() != 0 && !p.addr.Addr().IsUnspecified()
}

// candidate is a source on probation; owned by the leg's RTP reader.
type candidate struct {
	gen   uint64
	src   netip.AddrPort
	ssrc  uint32
	seq   uint16
	count int
}

type leg struct {
	id               LegID
	ports            *PortPair
	local, localRTCP netip.AddrPort
	// EngineEpoll: the RTP and RTCP sockets' descriptors, taken out of the
	// Go runtime (see detachPair), and whether they are AF_INET6.
	fd [2]int
	v6 bool

	peer, peerRTCP atomic.Pointer[peerState]
	dir            atomic.Uint32 // sdp.Direction the peer declared
	lastRx         atomic.Int64  // clock UnixNano of the last accepted RTP packet

	spec LegSpec // guarded by Relay.mu

	cand candidate // RTP reader only

	// Counters written by this leg's readers, read by Stats.
	rtcpIn, rtcpOut           atomic.Uint64
	invalid, foreign, probing atomic.Uint64
	badPT, unmapped, held     atomic.Uint64
	writeErrors, readErrors   atomic.Uint64
}

func (l *leg) direction() sdp.Direction { return sdp.Direction(l.dir.Load()) }

// ptTable maps the payload types one peer sends to those the other
// receives; out is -1 where there is no mapping.
type ptTable struct {
	out  [128]int16
	kind [128]uint8 // 0 not negotiated on the sending leg, else one of kind*
}

const (
	kindAudio = 1
	kindEvent = 2
)

func buildPT(recv, send []sdp.Codec) *ptTable {
	t := &ptTable{}
	for i := range t.out {
		t.out[i] = -1
	}
	for _, c := range recv {
		if c.PT > 127 {
			continue
		}
		switch {
		case c.IsTelephoneEvent():
			t.kind[c.PT] = kindEvent
		case c.IsAudio():
			t.kind[c.PT] = kindAudio
		default:
			continue
		}
		for _, d := range send {
			if d.Is(c.Name, c.ClockRate) && d.PT <= 127 {
				t.out[c.PT] = int16(d.PT)
				break
			}
		}
	}
	return t
}

// flow carries packets from one leg's peer to the other leg's peer. Its
// mutex is taken by the from-leg's RTP reader once per packet and by
// snapshots; no other flow or call shares it.
type flow struct {
	from, to *leg
	pt       atomic.Pointer[ptTable]

	mu       sync.Mutex
	rx       rxStats   // the stream from.peer sends
	out      outStream // the stream we send to to.peer
	pktsIn   uint64    // accepted from from.peer
	bytesIn  uint64
	pktsOut  uint64 // sent to to.peer
	bytesOut uint64
}

func randomSSRC() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return binary.BigEndian.Uint32(b[:])
}

// NewRelay starts relaying between two legs. The relay owns both port
// pairs from here on, also when it returns an error.
func NewRelay(cfg Config, a, b Leg) (*Relay, error) {
	r, err := newRelay(cfg, [2]*PortPair{a.Ports, b.Ports})
	if err != nil {
		return nil, err
	}
	now := r.clk.Now().UnixNano()
	for i, spec := range [2]LegSpec{a.Spec, b.Spec} {
		l := r.legs[i]
		l.spec = cloneSpec(spec)
		l.peer.Store(&peerState{sdp: spec.Peer, addr: spec.Peer})
		l.peerRTCP.Store(&peerState{sdp: spec.PeerRTCP, addr: spec.PeerRTCP})
		l.dir.Store(uint32(spec.Direction))
		l.lastRx.Store(now)
		r.flows[1-i].out.ssrc = randomSSRC()
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

func newRelay(cfg Config, pairs [2]*PortPair) (*Relay, error) {
	closePairs := func() {
		for _, p := range pairs {
			if p != nil {
				p.Close()
			}
		}
	}
	if pairs[0] == nil || pairs[1] == nil {
		closePairs()
		return nil, errors.New("media: relay needs two port pairs")
	}
	engine, err := cfg.Engine.resolve()
	if err != nil {
		closePairs()
		return nil, err
	}
	r := &Relay{
		engine: engine, clk: cfg.Clock, log: cfg.Logger, onTimeout: cfg.OnTimeout,
		timeout: cfg.Timeout, holdTimeout: cfg.HoldTimeout,
		probation: cfg.Latch.Probation, relatchIdle: cfg.Latch.RelatchIdle,
	}
	if r.clk == nil {
		r.clk = clock.Real()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	if r.probation <= 0 {
		r.probation = 3
	}
	if r.relatchIdle == 0 {
		r.relatchIdle = time.Second
	}
	for i := range r.legs {
		r.legs[i] = &leg{
			id: LegID(i), ports: pairs[i],
			local: pairs[i].RTPAddr(), localRTCP: pairs[i].RTCPAddr(),
			fd: [2]int{-1, -1},
		}
	}
	if engine == EngineEpoll {
		for _, l := range r.legs {
			if l.fd, l.v6, err = detachPair(l.ports); err != nil {
				closePairs()
				return nil, fmt.Errorf("media: taking over leg %s sockets: %w", l.id, err)
			}
		}
	}
	for i := range r.flows {
		r.flows[i] = &flow{from: r.legs[i], to: r.legs[1-i]}
	}
	return r, nil
}

func cloneSpec(s LegSpec) LegSpec {
	s.Send, s.Recv = slices.Clone(s.Send), slices.Clone(s.Recv)
	return s
}

// start builds the payload maps, arms the timeout and starts receiving.
// On error the relay is closed.
func (r *Relay) start() error {
	r.mu.Lock()
	r.rebuildPTLocked()
	r.rearmLocked(r.clk.Now())
	r.log.Debug("media relay started", "engine", r.engine,
		"local_a", r.legs[0].local, "local_b", r.legs[1].local,
		"peer_a", r.legs[0].spec.Peer, "peer_b", r.legs[1].spec.Peer)
	r.mu.Unlock()
	if r.engine == EngineEpoll {
		if err := r.ep.register(r); err != nil {
			r.Close()
			return fmt.Errorf("media: starting relay: %w", err)
		}
		return nil
	}
	r.wg.Add(4)
	for _, f := range r.flows {
		go r.readRTP(f)
		go r.readRTCP(f.from, f.to)
	}
	return nil
}

func (r *Relay) rebuildPTLocked() {
	for _, f := range r.flows {
		f.pt.Store(buildPT(f.from.spec.Recv, f.to.spec.Send))
	}
}

// Local returns a leg's local RTP and RTCP addresses, for our SDP.
func (r *Relay) Local(id LegID) (rtp, rtcp netip.AddrPort) {
	l := r.legs[id&1]
	return l.local, l.localRTCP
}

// Update applies a new negotiation with a leg's peer (re-INVITE, hold,
// resume, or the leg re-pointed to another endpoint). A changed SDP address
// resets the latch; a changed direction restarts the inactivity timeout.
func (r *Relay) Update(id LegID, spec LegSpec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.legs[id&1]
	old := l.spec
	l.spec = cloneSpec(spec)
	if spec.Peer != old.Peer {
		gen := l.peer.Load().gen + 1
		l.peer.Store(&peerState{sdp: spec.Peer, addr: spec.Peer, gen: gen})
		l.peerRTCP.Store(&peerState{sdp: spec.PeerRTCP, addr: spec.PeerRTCP})
		r.log.Info("media peer changed by signalling", "leg", l.id, "from", old.Peer, "to", spec.Peer)
	} else if spec.PeerRTCP != old.PeerRTCP {
		l.peerRTCP.Store(&peerState{sdp: spec.PeerRTCP, addr: spec.PeerRTCP})
	}
	r.rebuildPTLocked()
	if spec.Direction != old.Direction || spec.Peer != old.Peer {
		l.dir.Store(uint32(spec.Direction))
		now := r.clk.Now()
		for _, x := range r.legs {
			x.lastRx.Store(now.UnixNano())
		}
		r.timedOut = [2]bool{}
		r.rearmLocked(now)
	}
}

// Suspend stops (true) or resumes (false) all sending while keeping the
// sockets, latches and stream state: a node whose lease on the call lapsed
// must go quiet before another node may claim the call.
func (r *Relay) Suspend(on bool) { r.suspended.Store(on) }

// Close stops the readers and the timer and releases both port pairs. It
// is idempotent and safe to call from OnTimeout. When it returns no packet
// of this relay is being handled any more and its ports are free.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
	// The epoll workers must be done with the descriptors before they are
	// closed and their numbers reused; the goroutine readers stop because
	// their sockets close.
	r.ep.unregister()
	err := errors.Join(r.legs[0].ports.Close(), r.legs[1].ports.Close())
	r.wg.Wait()
	if err != nil {
		return fmt.Errorf("media: closing relay sockets: %w", err)
	}
	return nil
}

// limitLocked is the inactivity limit in force now.
func (r *Relay) limitLocked() time.Duration {
	for _, l := range r.legs {
		if l.direction() != sdp.SendRecv {
			return r.holdTimeout
		}
	}
	return r.timeout
}

// rearmLocked checks both legs against the limit, reports the ones whose
// media died and re-arms the timer for the earliest next deadline. The
// timer is checked lazily: packets only store a timestamp, they never touch
// the timer.
func (r *Relay) rearmLocked(now time.Time) (fired []LegID) {
	limit := r.limitLocked()
	next := time.Duration(-1)
	if limit > 0 {
		for _, l := range r.legs {
			if r.timedOut[l.id] {
				continue
			}
			idle := time.Duration(now.UnixNano() - l.lastRx.Load())
			if idle >= limit {
				r.timedOut[l.id] = true
				fired = append(fired, l.id)
				continue
			}
			if next < 0 || limit-idle < next {
				next = limit - idle
			}
		}
	}
	switch {
	case next < 0:
		if r.timer != nil {
			r.timer.Stop()
		}
	case r.timer == nil:
		r.timer = r.clk.AfterFunc(next, r.onTimer)
	default:
		r.timer.Reset(next)
	}
	return fired
}

func (r *Relay) onTimer() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	fired := r.rearmLocked(r.clk.Now())
	r.mu.Unlock()
	for _, id := range fired {
		r.log.Info("rtp timeout", "leg", id)
		if r.onTimeout != nil {
			r.onTimeout(id)
		}
	}
}

func (r *Relay) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Relay) readRTP(f *flow) {
	defer r.wg.Done()
	buf := make([]byte, maxPacket)
	conn := f.from.ports.RTP
	for errs := 0; errs < maxReadErrors; {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.isClosed() {
				return
			}
			errs++
			f.from.readErrors.Add(1)
			continue
		}
		errs = 0
		if n == len(buf) {
			f.from.invalid.Add(1)
			continue
		}
		r.relayRTP(f, buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))
	}
	r.log.Error("rtp reader stopped after repeated socket errors", "leg", f.from.id, "local", f.from.local)
}

// relayRTP is the per-packet path. It must not allocate.
func (r *Relay) relayRTP(f *flow, b []byte, src netip.AddrPort) {
	from, to := f.from, f.to
	in, ok := parseRTP(b)
	if !ok {
		from.invalid.Add(1)
		return
	}
	tab := f.pt.Load()
	kind := tab.kind[in.pt]
	if kind == 0 {
		from.badPT.Add(1)
		return
	}
	now := r.clk.Now().UnixNano()
	if !r.accept(from, src, in, now) {
		return
	}
	from.lastRx.Store(now)
	dst := to.peer.Load()
	outPT := tab.out[in.pt]
	send := outPT >= 0 && dst.sendable() && from.direction().Sends() && to.direction().Receives() && !r.suspended.Load()

	f.mu.Lock()
	f.pktsIn++
	f.bytesIn += uint64(len(b))
	f.rx.update(in, now, kind == kindAudio)
	if !send {
		// Rebase when sending resumes, so the peer sees no sequence gap.
		f.out.mapped = false
		f.mu.Unlock()
		if outPT < 0 {
			from.unmapped.Add(1)
		} else {
			from.held.Add(1)
		}
		return
	}
	seq, ts := f.out.next(in, now)
	ssrc := f.out.ssrc
	f.pktsOut++
	f.bytesOut += uint64(len(b))
	f.mu.Unlock()

	rewriteRTP(b, uint8(outPT), seq, ts, ssrc)
	if err := r.send(to, sockRTP, b, dst.addr); err != nil {
		to.writeErrors.Add(1)
	}
}

// The sockets of a leg, as indexes of leg.fd.
const (
	sockRTP  = 0
	sockRTCP = 1
)

// send writes one datagram from a leg's socket. The epoll engine never
// waits for room in a full socket buffer: the packet is dropped and
// counted, as a late RTP packet is worthless anyway.
func (r *Relay) send(from *leg, sock int, b []byte, dst netip.AddrPort) error {
	if r.engine == EngineEpoll {
		return sendRaw(from.fd[sock], from.v6, b, dst)
	}
	c := from.ports.RTP
	if sock == sockRTCP {
		c = from.ports.RTCP
	}
	_, err := c.WriteToUDPAddrPort(b, dst)
	return err
}

// accept applies the LatchPolicy to an RTP packet from src.
func (r *Relay) accept(l *leg, src netip.AddrPort, in rtpInfo, now int64) bool {
	p := l.peer.Load()
	if src == p.addr && p.latched {
		return true
	}
	if !p.latched && src == p.sdp {
		r.latch(l, p, src, "sdp address")
		return true
	}
	if p.latched && (r.relatchIdle < 0 || time.Duration(now-l.lastRx.Load()) < r.relatchIdle) {
		l.foreign.Add(1)
		return false
	}
	c := &l.cand
	if c.gen == p.gen && c.src == src && c.ssrc == in.ssrc && in.seq == c.seq+1 {
		c.count++
	} else {
		*c = candidate{gen: p.gen, src: src, ssrc: in.ssrc, count: 1}
	}
	c.seq = in.seq
	if c.count < r.probation {
		l.probing.Add(1)
		return false
	}
	*c = candidate{}
	reason := "probation passed"
	if p.latched {
		reason = "re-latched after idle peer"
	}
	r.latch(l, p, src, reason)
	return true
}

// latch points a leg's peer at src. RTCP follows to the new IP: kept if it
// already latched there, else aimed at the SDP RTCP address when that is on
// src's IP, else at src's port+1 (the usual NAT mapping), until RTCP
// latches itself.
func (r *Relay) latch(l *leg, p *peerState, src netip.AddrPort, reason string) {
	l.peer.Store(&peerState{sdp: p.sdp, addr: src, latched: true, gen: p.gen})
	rc := l.peerRTCP.Load()
	if !(rc.latched && rc.addr.Addr() == src.Addr()) {
		dst := rc.sdp
		if dst.Addr() != src.Addr() && src.Port() < 65535 {
			dst = netip.AddrPortFrom(src.Addr(), src.Port()+1)
		}
		l.peerRTCP.Store(&peerState{sdp: rc.sdp, addr: dst})
	}
	r.log.Info("rtp latched", "leg", l.id, "peer", src, "sdp", p.sdp, "reason", reason)
}

func (r *Relay) readRTCP(from, to *leg) {
	defer r.wg.Done()
	buf := make([]byte, maxPacket)
	conn := from.ports.RTCP
	for errs := 0; errs < maxReadErrors; {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.isClosed() {
				return
			}
			errs++
			from.readErrors.Add(1)
			continue
		}
		errs = 0
		if n == len(buf) {
			from.invalid.Add(1)
			continue
		}
		r.relayRTCP(from, to, buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))
	}
	r.log.Error("rtcp reader stopped after repeated socket errors", "leg", from.id, "local", from.localRTCP)
}

// relayRTCP translates and forwards one compound RTCP packet. RTCP flows
// whatever the direction attributes say (RFC 3264 §5.1).
func (r *Relay) relayRTCP(from, to *leg, b []byte, src netip.AddrPort) {
	if !validRTCP(b) {
		from.invalid.Add(1)
		return
	}
	p := from.peerRTCP.Load()
	if !p.latched || src != p.addr {
		rtp := from.peer.Load()
		if p.latched || !(src == p.sdp || (rtp.latched && src.Addr() == rtp.addr.Addr())) {
			from.foreign.Add(1)
			return
		}
		from.peerRTCP.Store(&peerState{sdp: p.sdp, addr: src, latched: true})
	}
	from.rtcpIn.Add(1)
	dst := to.peerRTCP.Load()
	if !dst.sendable() || r.suspended.Load() {
		return
	}
	var m ssrcMap
	fwd, back := r.flows[from.id], r.flows[to.id]
	fwd.mu.Lock()
	m.fromIn, m.fromOK, m.fromOut, m.tsOff = fwd.out.inSSRC, fwd.out.mapped, fwd.out.ssrc, fwd.out.tsOff
	fwd.mu.Unlock()
	back.mu.Lock()
	m.reportIn, m.reportOK, m.reportOut, m.seqOff = back.out.ssrc, back.out.mapped, back.out.inSSRC, back.out.seqOff
	back.mu.Unlock()
	n := translateRTCP(b, &m)
	if n == 0 {
		return
	}
	if err := r.send(to, sockRTCP, b[:n], dst.addr); err != nil {
		to.writeErrors.Add(1)
		return
	}
	to.rtcpOut.Add(1)
}

// LegStats are one leg's counters.
type LegStats struct {
	Peer    netip.AddrPort // where we send RTP now
	Latched bool
	// PacketsIn/BytesIn: RTP accepted from the peer. PacketsOut/BytesOut:
	// RTP sent to the peer.
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	RTCPIn, RTCPOut                          uint64
	// Lost is derived from the peer's sequence numbers (RFC 3550 A.3);
	// Jitter is the RFC 3550 interarrival jitter of the peer's audio.
	Lost   int64
	Jitter time.Duration
	// Drops by reason, for packets from the peer.
	Invalid, Foreign, Probing, BadPT, Unmapped, Held uint64
	WriteErrors, ReadErrors                          uint64
}

// Stats returns a leg's counters.
func (r *Relay) Stats(id LegID) LegStats {
	l := r.legs[id&1]
	in, out := r.flows[id&1], r.flows[1-id&1]
	p := l.peer.Load()
	s := LegStats{
		Peer: p.addr, Latched: p.latched,
		RTCPIn: l.rtcpIn.Load(), RTCPOut: l.rtcpOut.Load(),
		Invalid: l.invalid.Load(), Foreign: l.foreign.Load(), Probing: l.probing.Load(),
		BadPT: l.badPT.Load(), Unmapped: l.unmapped.Load(), Held: l.held.Load(),
		WriteErrors: l.writeErrors.Load(), ReadErrors: l.readErrors.Load(),
	}
	in.mu.Lock()
	s.PacketsIn, s.BytesIn, s.Lost, s.Jitter = in.pktsIn, in.bytesIn, in.rx.lost(), in.rx.jitterDuration()
	in.mu.Unlock()
	out.mu.Lock()
	s.PacketsOut, s.BytesOut = out.pktsOut, out.bytesOut
	out.mu.Unlock()
	return s
}

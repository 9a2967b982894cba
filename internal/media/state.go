package media

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/strowger/strowger/internal/sdp"
)

// StateVersion is the version of the State layout. Readers accept versions
// up to their own and ignore unknown fields, so nodes of different versions
// can take calls over from each other during a rolling upgrade.
const StateVersion = 1

// State is the media state of a call as a value: what another node needs to
// go on relaying it with new local ports. It is written to KV with the call
// checkpoint (encoding/json).
type State struct {
	V    int         `json:"v"`
	At   time.Time   `json:"at"` // clock time of the snapshot
	Legs [2]LegState `json:"legs"`
}

// LegState is one leg of a State.
type LegState struct {
	// Local addresses on the node that wrote the state (informational: a
	// restoring node has its own).
	Local     netip.AddrPort `json:"local"`
	LocalRTCP netip.AddrPort `json:"local_rtcp"`
	// SDPPeer/SDPPeerRTCP are from signalling; Peer/PeerRTCP are where
	// media goes now, learned by latching when Latched/RTCPLatched.
	SDPPeer     netip.AddrPort `json:"sdp_peer"`
	SDPPeerRTCP netip.AddrPort `json:"sdp_peer_rtcp"`
	Peer        netip.AddrPort `json:"peer"`
	PeerRTCP    netip.AddrPort `json:"peer_rtcp"`
	Latched     bool           `json:"latched"`
	RTCPLatched bool           `json:"rtcp_latched"`

	Direction sdp.Direction `json:"direction"` // as the peer declared it
	Send      []sdp.Codec   `json:"send"`      // numbers the peer receives
	Recv      []sdp.Codec   `json:"recv"`      // numbers the peer sends
	// PTMap is derived from Recv and the other leg's Send (peer's payload
	// type → the other peer's), kept for operators; Restore rebuilds it.
	PTMap  map[uint8]uint8 `json:"pt_map,omitempty"`
	Origin sdp.Origin      `json:"origin"` // our o= toward this peer

	In  InState  `json:"in"`  // the stream the peer sends
	Out OutState `json:"out"` // the stream we send to the peer
}

// InState describes the stream a peer sends, as last seen.
type InState struct {
	SSRC    uint32 `json:"ssrc"`
	LastSeq uint16 `json:"last_seq"`
	LastTS  uint32 `json:"last_ts"`
	Packets uint64 `json:"packets"`
	Lost    int64  `json:"lost"`
}

// OutState is the stream we send to a peer: continuing it is what keeps
// the peer from seeing a jump after a takeover.
type OutState struct {
	SSRC    uint32    `json:"ssrc"`
	Started bool      `json:"started"`
	LastSeq uint16    `json:"last_seq"`
	LastTS  uint32    `json:"last_ts"`
	LastAt  time.Time `json:"last_at"` // clock time LastSeq was sent
}

// State snapshots the relay. Packets keep flowing while it is taken; each
// flow is read under its own lock, so the two directions may be a packet
// apart, which a takeover tolerates (it rebases anyway).
func (r *Relay) State() State {
	st := State{V: StateVersion, At: r.clk.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, l := range r.legs {
		p, pc := l.peer.Load(), l.peerRTCP.Load()
		ls := LegState{
			Local: l.local, LocalRTCP: l.localRTCP,
			SDPPeer: l.spec.Peer, SDPPeerRTCP: l.spec.PeerRTCP,
			Peer: p.addr, PeerRTCP: pc.addr, Latched: p.latched, RTCPLatched: pc.latched,
			Direction: l.direction(),
			Send:      slices.Clone(l.spec.Send), Recv: slices.Clone(l.spec.Recv),
			Origin: l.spec.Origin,
		}
		from, to := r.flows[i], r.flows[1-i]
		tab := from.pt.Load()
		for pt, out := range tab.out {
			if out >= 0 {
				if ls.PTMap == nil {
					ls.PTMap = make(map[uint8]uint8)
				}
				ls.PTMap[uint8(pt)] = uint8(out)
			}
		}
		from.mu.Lock()
		ls.In = InState{SSRC: from.rx.ssrc, LastSeq: from.rx.maxSeq, LastTS: from.rx.lastTS, Packets: from.pktsIn, Lost: from.rx.lost()}
		from.mu.Unlock()
		to.mu.Lock()
		o := to.out
		to.mu.Unlock()
		ls.Out = OutState{SSRC: o.ssrc, Started: o.started, LastSeq: o.lastSeq, LastTS: o.lastTS}
		if o.started {
			ls.Out.LastAt = time.Unix(0, o.lastAt).UTC()
		}
		st.Legs[i] = ls
	}
	return st
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// FreshSSRC sends with new SSRCs (sequence numbers and timestamps still
	// continue). Needed when the stream is encrypted, so a key is never
	// used twice with one SSRC; plain RTP keeps its SSRCs so the far end
	// sees one uninterrupted stream.
	FreshSSRC bool
}

// Restore continues relaying a call from a State written by another
// process, on new local ports (which the relay takes over, also on error).
// Learned peer addresses are latched at once; the streams we send go on
// from the state's last sequence numbers and timestamps, advanced by the
// time that passed. The caller then re-INVITEs both peers with the new
// local addresses (Local), offering each leg's Origin.Next().
func Restore(cfg Config, st State, a, b *PortPair, opt RestoreOptions) (*Relay, error) {
	r, err := newRelay(cfg, [2]*PortPair{a, b})
	if err != nil {
		return nil, err
	}
	if st.V < 1 || st.V > StateVersion {
		a.Close()
		b.Close()
		return nil, fmt.Errorf("media: restoring state version %d, this node reads 1..%d", st.V, StateVersion)
	}
	now := r.clk.Now().UnixNano()
	for i, ls := range st.Legs {
		l := r.legs[i]
		l.spec = cloneSpec(LegSpec{
			Peer: ls.SDPPeer, PeerRTCP: ls.SDPPeerRTCP,
			Send: ls.Send, Recv: ls.Recv, Direction: ls.Direction, Origin: ls.Origin,
		})
		peer, peerRTCP := ls.Peer, ls.PeerRTCP
		if !peer.IsValid() {
			peer = ls.SDPPeer
		}
		if !peerRTCP.IsValid() {
			peerRTCP = ls.SDPPeerRTCP
		}
		l.peer.Store(&peerState{sdp: ls.SDPPeer, addr: peer, latched: ls.Latched})
		l.peerRTCP.Store(&peerState{sdp: ls.SDPPeerRTCP, addr: peerRTCP, latched: ls.RTCPLatched})
		l.dir.Store(uint32(ls.Direction))
		l.lastRx.Store(now)

		out := &r.flows[1-i].out
		out.ssrc = ls.Out.SSRC
		if opt.FreshSSRC || out.ssrc == 0 {
			out.ssrc = randomSSRC()
		}
		if ls.Out.Started {
			out.started = true
			out.lastSeq, out.lastTS = ls.Out.LastSeq, ls.Out.LastTS
			out.lastAt = ls.Out.LastAt.UnixNano()
		}
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

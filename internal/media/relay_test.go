package media

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/sdp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// endpoint is a fake phone: an RTP and an RTCP socket on loopback.
type endpoint struct {
	t         *testing.T
	rtp, rtcp *net.UDPConn
	ssrc      uint32
	seq       uint16
	ts        uint32
}

func newEndpoint(t *testing.T, ssrc uint32) *endpoint {
	t.Helper()
	p, err := ListenPair(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &endpoint{t: t, rtp: p.RTP, rtcp: p.RTCP, ssrc: ssrc, seq: 1000, ts: 50000}
}

func (e *endpoint) addr() netip.AddrPort { return e.rtp.LocalAddr().(*net.UDPAddr).AddrPort() }
func (e *endpoint) rtcpAddr() netip.AddrPort {
	return e.rtcp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// send sends one 20 ms packet and advances sequence and timestamp.
func (e *endpoint) send(to netip.AddrPort, pt uint8, payload []byte) {
	e.t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: e.seq, Timestamp: e.ts, SSRC: e.ssrc}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.rtp.WriteToUDPAddrPort(b, to); err != nil {
		e.t.Fatal(err)
	}
	e.seq++
	e.ts += 160
}

const recvWait = 2 * time.Second

func (e *endpoint) recv() *rtp.Packet {
	e.t.Helper()
	buf := make([]byte, 1500)
	e.rtp.SetReadDeadline(time.Now().Add(recvWait))
	n, err := e.rtp.Read(buf)
	if err != nil {
		e.t.Fatalf("endpoint %s: no RTP: %v", e.addr(), err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		e.t.Fatalf("endpoint got bad RTP: %v", err)
	}
	return &p
}

// expectNothing checks no RTP arrives within a short loopback wait.
func (e *endpoint) expectNothing() {
	e.t.Helper()
	buf := make([]byte, 1500)
	e.rtp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := e.rtp.Read(buf); err == nil {
		e.t.Fatalf("endpoint %s got %d unexpected bytes", e.addr(), n)
	}
}

// waitFor polls cond for at most two seconds: packets on loopback arrive
// fast but asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 400 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func codecs(te uint8) []sdp.Codec {
	return []sdp.Codec{
		{PT: 0, Name: sdp.PCMU, ClockRate: 8000},
		{PT: te, Name: sdp.TelephoneEvent, ClockRate: 8000, Fmtp: "0-16"},
	}
}

func specFor(e *endpoint, te uint8) LegSpec {
	return LegSpec{Peer: e.addr(), PeerRTCP: e.rtcpAddr(), Send: codecs(te), Recv: codecs(te)}
}

type harness struct {
	t     *testing.T
	clk   *clock.Fake
	relay *Relay
	a, b  *endpoint
	mu    sync.Mutex
	fired []LegID
}

func newHarness(t *testing.T, cfg Config, specA, specB func(a, b *endpoint) LegSpec) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(time.Unix(1_700_000_000, 0))}
	h.a, h.b = newEndpoint(t, 0xaaaa0001), newEndpoint(t, 0xbbbb0001)
	cfg.Clock = h.clk
	cfg.OnTimeout = func(id LegID) {
		h.mu.Lock()
		h.fired = append(h.fired, id)
		h.mu.Unlock()
	}
	pa, err := ListenPair(loopback)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ListenPair(loopback)
	if err != nil {
		t.Fatal(err)
	}
	h.relay, err = NewRelay(cfg, Leg{Ports: pa, Spec: specA(h.a, h.b)}, Leg{Ports: pb, Spec: specB(h.a, h.b)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.relay.Close() })
	return h
}

func (h *harness) timeouts() []LegID {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.fired)
}

func (h *harness) local(id LegID) netip.AddrPort {
	rtp, _ := h.relay.Local(id)
	return rtp
}

func defaultSpecs(te1, te2 uint8) (func(a, b *endpoint) LegSpec, func(a, b *endpoint) LegSpec) {
	return func(a, _ *endpoint) LegSpec { return specFor(a, te1) }, func(_, b *endpoint) LegSpec { return specFor(b, te2) }
}

func TestRelayBothWaysWithPTMapping(t *testing.T) {
	sa, sb := defaultSpecs(101, 96)
	h := newHarness(t, Config{}, sa, sb)
	voiceA := bytes.Repeat([]byte{0x11}, 160)
	voiceB := bytes.Repeat([]byte{0x22}, 160)
	var firstSSRCtoB uint32
	for i := range 5 {
		h.a.send(h.local(LegA), 0, voiceA)
		p := h.b.recv()
		if p.PayloadType != 0 || !bytes.Equal(p.Payload, voiceA) {
			t.Fatalf("b got pt %d payload %x", p.PayloadType, p.Payload[:4])
		}
		if i == 0 {
			firstSSRCtoB = p.SSRC
			// The first source passes sequence and timestamp through.
			if p.SequenceNumber != 1000 || p.Timestamp != 50000 {
				t.Fatalf("first packet seq %d ts %d", p.SequenceNumber, p.Timestamp)
			}
		}
		if p.SSRC != firstSSRCtoB || p.SSRC == h.a.ssrc {
			t.Fatalf("ssrc %x: want the relay's own, stable", p.SSRC)
		}
		h.b.send(h.local(LegB), 0, voiceB)
		q := h.b2a(t)
		if !bytes.Equal(q.Payload, voiceB) {
			t.Fatalf("a got %x", q.Payload[:4])
		}
	}
	// telephone-event: 101 on A is 96 on B, and back.
	ev, _ := AppendEvent(nil, Event{Code: 5, Volume: 10, Duration: 160})
	h.a.send(h.local(LegA), 101, ev)
	p := h.b.recv()
	if p.PayloadType != 96 || !bytes.Equal(p.Payload, ev) {
		t.Fatalf("event to b: pt %d payload %x", p.PayloadType, p.Payload)
	}
	if got, err := ParseEvent(p.Payload); err != nil || got.Code != 5 {
		t.Fatalf("event %+v %v", got, err)
	}
	h.b.send(h.local(LegB), 96, ev)
	if q := h.b2a(t); q.PayloadType != 101 {
		t.Fatalf("event to a: pt %d", q.PayloadType)
	}
	sA, sB := h.relay.Stats(LegA), h.relay.Stats(LegB)
	if sA.PacketsIn != 6 || sA.PacketsOut != 6 || sB.PacketsIn != 6 || sB.PacketsOut != 6 {
		t.Fatalf("stats a %+v b %+v", sA, sB)
	}
	if !sA.Latched || sA.Peer != h.a.addr() || sA.Lost != 0 || sA.BytesIn != 5*172+16 {
		t.Fatalf("stats a %+v", sA)
	}
}

func (h *harness) b2a(t *testing.T) *rtp.Packet {
	t.Helper()
	return h.a.recv()
}

func TestUnmappedAndUnknownPayloadTypes(t *testing.T) {
	sa := func(a, _ *endpoint) LegSpec {
		s := specFor(a, 101)
		s.Recv = append(s.Recv, sdp.Codec{PT: 8, Name: sdp.PCMA, ClockRate: 8000})
		return s
	}
	_, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	h.a.send(h.local(LegA), 0, []byte{1}) // latches
	h.b.recv()
	h.a.send(h.local(LegA), 8, []byte{2})  // negotiated on A, not on B
	h.a.send(h.local(LegA), 18, []byte{3}) // negotiated nowhere
	h.b.expectNothing()
	waitFor(t, "drops counted", func() bool {
		s := h.relay.Stats(LegA)
		return s.Unmapped == 1 && s.BadPT == 1
	})
}

func TestLatchingBehindNATAndStrangers(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{Latch: LatchPolicy{Probation: 3, RelatchIdle: time.Second}}, sa, sb)
	// A's SDP names h.a, but its packets come from another port (NAT).
	nat := newEndpoint(t, 0xaaaa0002)
	for range 2 {
		nat.send(h.local(LegA), 0, []byte{0x33})
	}
	h.b.expectNothing()
	waitFor(t, "probation", func() bool { return h.relay.Stats(LegA).Probing == 2 })
	if h.relay.Stats(LegA).Latched {
		t.Fatal("latched during probation")
	}
	nat.send(h.local(LegA), 0, []byte{0x33})
	if p := h.b.recv(); p.Payload[0] != 0x33 {
		t.Fatal("wrong payload after probation")
	}
	if s := h.relay.Stats(LegA); !s.Latched || s.Peer != nat.addr() {
		t.Fatalf("not latched to the NAT address: %+v", s)
	}
	// B's audio now goes to the latched address, not to the SDP one.
	h.b.send(h.local(LegB), 0, []byte{0x44})
	if p := nat.recv(); p.Payload[0] != 0x44 {
		t.Fatal("b to nat")
	}
	h.a.expectNothing()

	// A stranger cannot take over a live stream, however many packets.
	stranger := newEndpoint(t, 0xdead0001)
	for range 5 {
		stranger.send(h.local(LegA), 0, []byte{0x66})
	}
	waitFor(t, "foreign drops", func() bool { return h.relay.Stats(LegA).Foreign == 5 })
	h.b.expectNothing()
	if h.relay.Stats(LegA).Peer != nat.addr() {
		t.Fatal("stranger took over")
	}

	// Once the peer has been silent for RelatchIdle, a new source that
	// passes probation takes over (a phone that changed network).
	h.clk.Advance(1500 * time.Millisecond)
	moved := newEndpoint(t, 0xaaaa0003)
	for range 3 {
		moved.send(h.local(LegA), 0, []byte{0x77})
	}
	if p := h.b.recv(); p.Payload[0] != 0x77 {
		t.Fatal("re-latched stream not relayed")
	}
	if s := h.relay.Stats(LegA); s.Peer != moved.addr() {
		t.Fatalf("did not re-latch: %+v", s)
	}
}

func TestSDPAddressLatchesAtOnce(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	h.a.send(h.local(LegA), 0, []byte{1})
	h.b.recv()
	if s := h.relay.Stats(LegA); !s.Latched || s.Probing != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestTimeoutOnFakeClock(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{Timeout: 5 * time.Second}, sa, sb)
	h.a.send(h.local(LegA), 0, []byte{1})
	h.b.recv()
	h.clk.Advance(3 * time.Second)
	h.a.send(h.local(LegA), 0, []byte{1})
	h.b.recv()
	waitFor(t, "second packet", func() bool { return h.relay.Stats(LegA).PacketsIn == 2 })
	h.clk.Advance(3 * time.Second) // B silent 6 s, A 3 s
	if got := h.timeouts(); !slices.Equal(got, []LegID{LegB}) {
		t.Fatalf("timeouts %v, want [b]", got)
	}
	h.clk.Advance(2 * time.Second) // A silent 5 s
	if got := h.timeouts(); !slices.Equal(got, []LegID{LegB, LegA}) {
		t.Fatalf("timeouts %v, want [b a]", got)
	}
	h.clk.Advance(time.Minute)
	if got := h.timeouts(); len(got) != 2 {
		t.Fatalf("timeouts repeated: %v", got)
	}
}

func TestHoldSuspendsTimeoutAndOneWay(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{Timeout: 5 * time.Second}, sa, sb)
	// A puts the call on hold: A sendonly (music), B answered recvonly.
	specA, specB := specFor(h.a, 101), specFor(h.b, 101)
	specA.Direction, specB.Direction = sdp.SendOnly, sdp.RecvOnly
	h.relay.Update(LegA, specA)
	h.relay.Update(LegB, specB)
	h.a.send(h.local(LegA), 0, []byte{0x55})
	if p := h.b.recv(); p.Payload[0] != 0x55 {
		t.Fatal("hold music not relayed")
	}
	h.b.send(h.local(LegB), 0, []byte{0x56})
	h.a.expectNothing()
	waitFor(t, "held drop", func() bool { return h.relay.Stats(LegB).Held == 1 })
	h.clk.Advance(time.Hour)
	if got := h.timeouts(); len(got) != 0 {
		t.Fatalf("timeout while held: %v", got)
	}
	// Resume: both sendrecv; the timeout counts again from now.
	specA.Direction, specB.Direction = sdp.SendRecv, sdp.SendRecv
	h.relay.Update(LegA, specA)
	h.relay.Update(LegB, specB)
	h.b.send(h.local(LegB), 0, []byte{0x57})
	if p := h.a.recv(); p.Payload[0] != 0x57 {
		t.Fatal("not relayed after resume")
	}
	// The sequence numbers A sees go on by one despite the held packet.
	h.b.send(h.local(LegB), 0, []byte{0x58})
	p2 := h.a.recv()
	if p2.Payload[0] != 0x58 {
		t.Fatal("order")
	}
	h.clk.Advance(6 * time.Second)
	if got := h.timeouts(); len(got) != 2 {
		t.Fatalf("timeouts after resume %v", got)
	}
}

func TestHoldByZeroAddress(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	h.a.send(h.local(LegA), 0, []byte{1})
	h.b.recv()
	// B re-INVITEs with c=0.0.0.0: RFC 2543 hold.
	specB := specFor(h.b, 101)
	specB.Peer = netip.AddrPortFrom(netip.IPv4Unspecified(), h.b.addr().Port())
	specB.Direction = sdp.SendOnly
	h.relay.Update(LegB, specB)
	h.a.send(h.local(LegA), 0, []byte{2})
	h.b.expectNothing()
	waitFor(t, "held", func() bool { return h.relay.Stats(LegA).Held == 1 })
}

func TestRepointKeepsStreamContinuous(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	var last *rtp.Packet
	for range 3 {
		h.b.send(h.local(LegB), 0, []byte{1})
		last = h.a.recv()
	}
	// Leg B is re-pointed to another phone (a transfer) with its own SSRC,
	// sequence and timestamp; A must see one continuous stream.
	c := newEndpoint(t, 0xcccc0001)
	c.seq, c.ts = 7, 999
	h.relay.Update(LegB, specFor(c, 101))
	h.clk.Advance(time.Second)
	c.send(h.local(LegB), 0, []byte{9})
	p := h.a.recv()
	if p.SSRC != last.SSRC || p.SequenceNumber != last.SequenceNumber+1 || p.Timestamp != last.Timestamp+8000 {
		t.Fatalf("after re-point ssrc %x seq %d ts %d; before ssrc %x seq %d ts %d",
			p.SSRC, p.SequenceNumber, p.Timestamp, last.SSRC, last.SequenceNumber, last.Timestamp)
	}
	c.send(h.local(LegB), 0, []byte{9})
	if q := h.a.recv(); q.SequenceNumber != p.SequenceNumber+1 || q.Timestamp != p.Timestamp+160 {
		t.Fatalf("next seq %d ts %d", q.SequenceNumber, q.Timestamp)
	}
}

func TestRTCPTranslatedAndRelayed(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	// Media both ways so both SSRC mappings exist.
	h.a.send(h.local(LegA), 0, []byte{1})
	toB := h.b.recv()
	h.b.send(h.local(LegB), 0, []byte{2})
	toA := h.a.recv()

	_, rtcpA := h.relay.Local(LegA)
	pkts := []rtcp.Packet{
		&rtcp.SenderReport{SSRC: h.a.ssrc, RTPTime: 50000, PacketCount: 1, OctetCount: 1,
			Reports: []rtcp.ReceptionReport{{SSRC: toA.SSRC, LastSequenceNumber: uint32(toA.SequenceNumber)}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: h.a.ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "a@example"}}}}},
		&rtcp.Goodbye{Sources: []uint32{h.a.ssrc}},
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.a.rtcp.WriteToUDPAddrPort(raw, rtcpA); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	h.b.rtcp.SetReadDeadline(time.Now().Add(recvWait))
	n, err := h.b.rtcp.Read(buf)
	if err != nil {
		t.Fatalf("no RTCP at b: %v", err)
	}
	got, err := rtcp.Unmarshal(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d packets, want SR and SDES (BYE removed)", len(got))
	}
	sr := got[0].(*rtcp.SenderReport)
	if sr.SSRC != toB.SSRC || sr.RTPTime != 50000 {
		t.Fatalf("SR ssrc %x ts %d, want %x", sr.SSRC, sr.RTPTime, toB.SSRC)
	}
	if len(sr.Reports) != 1 || sr.Reports[0].SSRC != h.b.ssrc || sr.Reports[0].LastSequenceNumber != 1000 {
		t.Fatalf("report block %+v, want about b's own ssrc %x", sr.Reports, h.b.ssrc)
	}
	if sd := got[1].(*rtcp.SourceDescription); sd.Chunks[0].Source != toB.SSRC {
		t.Fatalf("SDES %x", sd.Chunks[0].Source)
	}
	if s := h.relay.Stats(LegA); s.RTCPIn != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestStateRestoreRoundTrip(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		t.Run(map[bool]string{false: "same-ssrc", true: "fresh-ssrc"}[fresh], func(t *testing.T) {
			testRestore(t, fresh)
		})
	}
}

func testRestore(t *testing.T, fresh bool) {
	sa, sb := defaultSpecs(101, 96)
	h := newHarness(t, Config{}, sa, sb)
	// A is behind NAT: latched by probation, which the new node must not repeat.
	nat := newEndpoint(t, 0xaaaa0009)
	for range 3 {
		nat.send(h.local(LegA), 0, []byte{1})
	}
	lastB := h.b.recv()
	h.b.send(h.local(LegB), 0, []byte{2})
	lastA := nat.recv()

	st := h.relay.State()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	h.relay.Close()

	var back State
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Legs[0].PTMap[101] != 96 || back.Legs[1].PTMap[96] != 101 || !back.Legs[0].Latched || back.Legs[0].Peer != nat.addr() {
		t.Fatalf("state %s", raw)
	}
	// Another process: new ports, a clock 2 s later.
	clk2 := clock.NewFake(h.clk.Now().Add(2 * time.Second))
	pa, _ := ListenPair(loopback)
	pb, _ := ListenPair(loopback)
	r2, err := Restore(Config{Clock: clk2}, back, pa, pb, RestoreOptions{FreshSSRC: fresh})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	a2, _ := r2.Local(LegA)
	b2, _ := r2.Local(LegB)
	if a2 == h.local(LegA) || b2 == h.local(LegB) {
		t.Fatal("restored on the same ports")
	}
	// The peers carry on with their own streams, now to the new ports.
	nat.send(a2, 101, []byte{5, 0, 0, 160})
	p := h.b.recv()
	if p.PayloadType != 96 {
		t.Fatalf("pt map lost: %d", p.PayloadType)
	}
	if p.SequenceNumber != lastB.SequenceNumber+1 || p.Timestamp != lastB.Timestamp+2*8000 {
		t.Fatalf("b sees seq %d ts %d after %d %d", p.SequenceNumber, p.Timestamp, lastB.SequenceNumber, lastB.Timestamp)
	}
	if (p.SSRC == lastB.SSRC) == fresh {
		t.Fatalf("ssrc %x before %x, fresh=%v", p.SSRC, lastB.SSRC, fresh)
	}
	if s := r2.Stats(LegA); s.Probing != 0 || !s.Latched {
		t.Fatalf("restored latch not used: %+v", s)
	}
	// And the other way, to the latched NAT address at once.
	h.b.send(b2, 0, []byte{3})
	q := nat.recv()
	if q.SequenceNumber != lastA.SequenceNumber+1 || q.Payload[0] != 3 {
		t.Fatalf("a sees seq %d after %d", q.SequenceNumber, lastA.SequenceNumber)
	}
	st2 := r2.State()
	if st2.Legs[0].Origin != back.Legs[0].Origin || st2.Legs[1].Direction != sdp.SendRecv {
		t.Fatalf("restored state %+v", st2)
	}
	if _, err := Restore(Config{}, State{V: 99}, mustPair(t), mustPair(t), RestoreOptions{}); err == nil {
		t.Fatal("restored an unknown state version")
	}
}

func mustPair(t *testing.T) *PortPair {
	t.Helper()
	p, err := ListenPair(loopback)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSuspendStopsSending(t *testing.T) {
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	h.relay.Suspend(true)
	h.a.send(h.local(LegA), 0, []byte{1})
	h.b.expectNothing()
	h.relay.Suspend(false)
	h.a.send(h.local(LegA), 0, []byte{2})
	if p := h.b.recv(); p.Payload[0] != 2 {
		t.Fatal("not resumed")
	}
}

func TestRelayPathDoesNotAllocate(t *testing.T) {
	sa, sb := defaultSpecs(101, 96)
	h := newHarness(t, Config{}, sa, sb)
	h.a.send(h.local(LegA), 0, []byte{1})
	h.b.recv()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 1, SSRC: h.a.ssrc}, Payload: make([]byte, 160)}
	raw, _ := pkt.Marshal()
	buf := make([]byte, len(raw))
	f := h.relay.flows[LegA]
	src := h.a.addr()
	seq := uint16(2)
	allocs := testing.AllocsPerRun(200, func() {
		copy(buf, raw)
		buf[2], buf[3] = byte(seq>>8), byte(seq)
		seq++
		h.relay.relayRTP(f, buf, src)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

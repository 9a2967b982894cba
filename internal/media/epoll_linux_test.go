//go:build linux

package media

import (
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strowger/strowger/internal/clock"
)

func reactorState() (relays, workers int) {
	theReactor.mu.Lock()
	defer theReactor.mu.Unlock()
	return theReactor.relays, len(theReactor.workers)
}

func epollRelayOn(t *testing.T, cfg Config, pa, pb *PortPair, peerA, peerB netip.AddrPort) *Relay {
	t.Helper()
	cfg.Engine = EngineEpoll
	r, err := NewRelay(cfg,
		Leg{Ports: pa, Spec: LegSpec{Peer: peerA, Send: codecs(101), Recv: codecs(101)}},
		Leg{Ports: pb, Spec: LegSpec{Peer: peerB, Send: codecs(101), Recv: codecs(101)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestEpollNoGoroutinesPerCallAndCloseReleases: calls on the epoll engine
// add no goroutines beyond the workers; closing them frees every port for
// rebinding and, with the last call, stops the workers.
func TestEpollNoGoroutinesPerCallAndCloseReleases(t *testing.T) {
	if n, _ := reactorState(); n != 0 {
		t.Fatalf("%d relays left registered by other tests", n)
	}
	rng := freeRange(t, 20)
	ports, err := NewPorts(loopback, rng, nil)
	if err != nil {
		t.Fatal(err)
	}
	g0 := runtime.NumGoroutine()
	var relays []*Relay
	for range 10 {
		pa, err1 := ports.Allocate()
		pb, err2 := ports.Allocate()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		relays = append(relays, epollRelayOn(t, Config{Timeout: -1}, pa, pb, netip.AddrPort{}, netip.AddrPort{}))
	}
	n, workers := reactorState()
	if n != 10 || workers != min(runtime.GOMAXPROCS(0), maxWorkers) {
		t.Fatalf("%d relays on %d workers", n, workers)
	}
	if g := runtime.NumGoroutine() - g0; g > workers {
		t.Fatalf("10 calls added %d goroutines, want at most the %d workers", g, workers)
	}
	for _, r := range relays {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if ports.InUse() != 0 {
		t.Fatalf("%d pairs still in use", ports.InUse())
	}
	if n, workers := reactorState(); n != 0 || workers != 0 {
		t.Fatalf("after the last close: %d relays, %d workers", n, workers)
	}
	for p := rng.Low; p <= rng.High; p++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			t.Fatalf("port %d not released: %v", p, err)
		}
		c.Close()
	}
	waitFor(t, "workers gone", func() bool { return runtime.NumGoroutine() <= g0 })
}

// TestEpollStaleEventIgnored: an event read before a socket was removed
// names its slot with the old generation and finds nothing, even once a
// new call has taken the slot.
func TestEpollStaleEventIgnored(t *testing.T) {
	useEngine(t, EngineEpoll)
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	slot, s := h.relay.ep.slots[0], h.relay.ep.socks[0]
	if theReactor.lookup(slot, int32(s.gen)) != s {
		t.Fatal("live socket not found")
	}
	h.relay.Close()
	if theReactor.lookup(slot, int32(s.gen)) != nil {
		t.Fatal("closed socket still found")
	}
	h2 := newHarness(t, Config{}, sa, sb)
	i := slices.Index(h2.relay.ep.slots[:], slot)
	if i < 0 {
		t.Fatalf("slot %d not reused by %v", slot, h2.relay.ep.slots)
	}
	s2 := h2.relay.ep.socks[i]
	if s2.gen == s.gen || theReactor.lookup(slot, int32(s.gen)) != nil || theReactor.lookup(slot, int32(s2.gen)) != s2 {
		t.Fatalf("slot %d: old generation %d, new %d", slot, s.gen, s2.gen)
	}
	for _, bad := range [][2]int32{{-1, 1}, {tabChunks * tabChunk, 1}, {int32(len(theReactor.gens)) + tabChunk, 1}} {
		if theReactor.lookup(bad[0], bad[1]) != nil {
			t.Fatalf("lookup%v found a socket", bad)
		}
	}
	// The new call relays: the stale registration did not disturb it.
	h2.a.send(h2.local(LegA), 0, []byte{7})
	if p := h2.b.recv(); p.Payload[0] != 7 {
		t.Fatal("new call does not relay")
	}
}

// TestEpollCloseWhileRelaying replaces calls while packets flow through
// them, so closed descriptor numbers are reused at once by new calls'
// sockets. Every packet a phone receives must come from its own call's
// relay: a worker using a closed descriptor would send from another
// call's port.
func TestEpollCloseWhileRelaying(t *testing.T) {
	useEngine(t, EngineEpoll)
	const calls, replacements = 6, 30
	type slot struct {
		a, b   *endpoint
		relay  *Relay
		target netip.AddrPort   // relay leg A, where a sends
		fromB  []netip.AddrPort // every relay leg B this phone was given
		wrong  atomic.Int64
		got    atomic.Int64
		mu     sync.Mutex
		closed bool
	}
	open := func(s *slot) {
		pa, pb := mustPair(t), mustPair(t)
		r, err := NewRelay(Config{Timeout: -1},
			Leg{Ports: pa, Spec: specFor(s.a, 101)}, Leg{Ports: pb, Spec: specFor(s.b, 101)})
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		s.relay = r
		s.target, _ = r.Local(LegA)
		lb, _ := r.Local(LegB)
		s.fromB = append(s.fromB, lb)
		s.mu.Unlock()
	}
	slots := make([]*slot, calls)
	var rwg sync.WaitGroup
	for i := range slots {
		s := &slot{a: newEndpoint(t, uint32(0xa000+i)), b: newEndpoint(t, uint32(0xb000+i))}
		slots[i] = s
		open(s)
		rwg.Go(func() {
			buf := make([]byte, 1500)
			for {
				_ = s.b.rtp.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_, src, err := s.b.rtp.ReadFromUDPAddrPort(buf)
				if err != nil {
					s.mu.Lock()
					done := s.closed
					s.mu.Unlock()
					if done {
						return
					}
					continue
				}
				s.got.Add(1)
				s.mu.Lock()
				if !slices.Contains(s.fromB, src) {
					s.wrong.Add(1)
				}
				s.mu.Unlock()
			}
		})
	}
	var stop atomic.Bool
	var sent atomic.Int64
	var swg sync.WaitGroup
	swg.Go(func() {
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		for round := 0; round < 20000 && !stop.Load(); round++ {
			for i, s := range slots {
				s.mu.Lock()
				dst := s.target
				s.mu.Unlock()
				pkt[2], pkt[3] = byte(round>>8), byte(round)
				pkt[8], pkt[11] = 0xa0, byte(i)
				if _, err := s.a.rtp.WriteToUDPAddrPort(pkt, dst); err == nil {
					sent.Add(1)
				}
			}
			if round%8 == 0 {
				runtime.Gosched()
			}
		}
	})
	for k := range replacements {
		s := slots[k%calls]
		at := sent.Load()
		waitFor(t, "packets flowing", func() bool { return sent.Load() >= at+int64(calls) })
		s.mu.Lock()
		old := s.relay
		s.mu.Unlock()
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		open(s)
	}
	stop.Store(true)
	swg.Wait()
	var got int64
	for _, s := range slots {
		got += s.got.Load()
		if s.wrong.Load() != 0 {
			t.Errorf("phone b got %d packets from another call's port", s.wrong.Load())
		}
		if st := s.relay.Stats(LegA); st.ReadErrors != 0 {
			t.Errorf("read errors %+v", st)
		}
	}
	// The calls still relay after all that.
	for _, s := range slots {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
	rwg.Wait()
	for _, s := range slots {
		s.a.send(s.target, 0, []byte{9})
		if p := s.b.recv(); p.Payload[0] != 9 {
			t.Fatal("call does not relay after the churn")
		}
		s.relay.Close()
	}
	if got == 0 {
		t.Fatal("nothing was relayed during the churn")
	}
	t.Logf("%d packets sent, %d relayed during %d replacements", sent.Load(), got, replacements)
}

// TestEpollIPv6AndFamilyMismatch: IPv6 sockets relay, and an IPv6 peer on
// an IPv4 leg is a counted write error, not a crash or a misdirected send.
func TestEpollIPv6AndFamilyMismatch(t *testing.T) {
	v6 := netip.MustParseAddr("::1")
	pair := func() *PortPair {
		p, err := ListenPair(v6)
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	phoneA, phoneB := pair(), pair()
	r := epollRelayOn(t, Config{}, pair(), pair(), phoneA.RTPAddr(), phoneB.RTPAddr())
	if !r.legs[0].v6 {
		t.Fatal("leg not seen as AF_INET6")
	}
	localA, _ := r.Local(LegA)
	if _, err := phoneA.RTP.WriteToUDPAddrPort(rtpPacket(0, 1), localA); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = phoneB.RTP.SetReadDeadline(time.Now().Add(recvWait))
	n, src, err := phoneB.RTP.ReadFromUDPAddrPort(buf)
	if err != nil || n != 12+1 {
		t.Fatalf("no IPv6 relay: %d %v", n, err)
	}
	if localB, _ := r.Local(LegB); src.Port() != localB.Port() {
		t.Fatalf("from %v, want %v", src, localB)
	}

	// An IPv4 relay told to send to an IPv6 peer.
	a := newEndpoint(t, 1)
	r4 := epollRelayOn(t, Config{}, mustPair(t), mustPair(t), a.addr(), phoneB.RTPAddr())
	a.send(r4.legs[0].local, 0, []byte{1})
	waitFor(t, "write error", func() bool { return r4.Stats(LegB).WriteErrors == 1 })
	if s := r4.Stats(LegA); s.PacketsIn != 1 {
		t.Fatalf("%+v", s)
	}
}

func rtpPacket(pt uint8, seq uint16) []byte {
	return []byte{0x80, pt, byte(seq >> 8), byte(seq), 0, 0, 0, 1, 0, 0, 0, 1, 0xff}
}

// TestEpollCloseFromOnTimeout: OnTimeout runs on a timer goroutine, not a
// worker, so it may close the relay; the ports are free afterwards.
func TestEpollCloseFromOnTimeout(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	var r *Relay
	done := make(chan error, 2)
	pa := mustPair(t)
	addr := pa.RTPAddr()
	r = epollRelayOn(t, Config{Clock: clk, Timeout: time.Second, OnTimeout: func(LegID) { done <- r.Close() }},
		pa, mustPair(t), netip.AddrPort{}, netip.AddrPort{})
	clk.Advance(2 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatalf("port not released after close from OnTimeout: %v", err)
	}
	c.Close()
}

// TestEpollWorkerPathDoesNotAllocate covers the whole per-packet path of a
// worker: recvfrom, relay logic and sendto.
func TestEpollWorkerPathDoesNotAllocate(t *testing.T) {
	useEngine(t, EngineEpoll)
	sa, sb := defaultSpecs(101, 96)
	h := newHarness(t, Config{}, sa, sb)
	// Take the relay off its worker and drive a private one by hand.
	s := h.relay.ep.socks[0]
	if s.rtcp || s.f != h.relay.flows[LegA] {
		t.Fatal("first socket is not leg a's RTP")
	}
	h.relay.ep.unregister()
	const runs = 100
	for range runs + 1 {
		h.a.send(h.local(LegA), 0, make([]byte, 160))
	}
	w := &worker{}
	allocs := testing.AllocsPerRun(runs, func() { w.handle(s) })
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
	if in, out := h.relay.Stats(LegA).PacketsIn, h.relay.Stats(LegB).PacketsOut; in != runs+1 || out != runs+1 {
		t.Fatalf("%d packets in, %d out, want %d", in, out, runs+1)
	}
}

// TestEpollFailingSocketStopped: a descriptor whose reads keep failing is
// counted, and after maxReadErrors taken out of its worker's epoll set
// instead of being spun on.
func TestEpollFailingSocketStopped(t *testing.T) {
	useEngine(t, EngineEpoll)
	sa, sb := defaultSpecs(101, 101)
	h := newHarness(t, Config{}, sa, sb)
	// A readable pipe: recvfrom fails on it (ENOTSOCK) and level-triggered
	// epoll reports it again and again.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	if _, err := unix.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(epfd) })
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p[0], &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		t.Fatal(err)
	}
	s := *h.relay.ep.socks[0]
	s.fd = p[0]
	w := &worker{epfd: epfd}
	events := make([]unix.EpollEvent, 1)
	for i := range maxReadErrors {
		if n, _ := unix.EpollWait(epfd, events, 0); n != 1 {
			t.Fatalf("after %d errors the descriptor is no longer reported", i)
		}
		w.handle(&s)
	}
	if n, _ := unix.EpollWait(epfd, events, 0); n != 0 {
		t.Fatal("failing descriptor still in the epoll set")
	}
	if st := h.relay.Stats(LegA); st.ReadErrors != maxReadErrors {
		t.Fatalf("read errors %d, want %d", st.ReadErrors, maxReadErrors)
	}
}

package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
)

func TestParsePortRange(t *testing.T) {
	good := map[string]PortRange{"10000-20000": {10000, 20000}, " 16384-16385 ": {16384, 16385}, "10001-10004": {10001, 10004}}
	for in, want := range good {
		got, err := ParsePortRange(in)
		if err != nil || got != want {
			t.Errorf("ParsePortRange(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "10000", "a-b", "20000-10000", "80-100", "10000-70000", "10001-10001", "10001-10002"} {
		if _, err := ParsePortRange(in); err == nil {
			t.Errorf("ParsePortRange(%q) accepted", in)
		}
	}
	if r := (PortRange{10001, 10006}); r.pairs() != 2 || r.first() != 10002 {
		t.Errorf("odd low: %d pairs from %d", r.pairs(), r.first())
	}
}

// freeRange finds a small range of ports nobody listens on now, so the
// exhaustion test does not depend on what else runs on this machine.
func freeRange(t *testing.T, pairs int) PortRange {
	t.Helper()
	for try := range 50 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		base := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		c.Close()
		if base < 1024 || base+2*pairs > 65535 {
			continue
		}
		r := PortRange{base, base + 2*pairs - 1}
		ok := true
		var held []*net.UDPConn
		for p := r.Low; p <= r.High; p++ {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return r
		}
		_ = try
	}
	t.Skip("no free port range found")
	return PortRange{}
}

func TestPortsAllocateExhaustRelease(t *testing.T) {
	r := freeRange(t, 2)
	p, err := NewPorts(netip.MustParseAddr("127.0.0.1"), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Capacity() != 2 {
		t.Fatalf("capacity %d", p.Capacity())
	}
	a, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range []*PortPair{a, b} {
		rtp, rtcp := pp.RTPAddr(), pp.RTCPAddr()
		if rtp.Port()%2 != 0 || rtcp.Port() != rtp.Port()+1 || int(rtp.Port()) < r.Low || int(rtcp.Port()) > r.High {
			t.Fatalf("pair %s/%s outside %s or misaligned", rtp, rtcp, r)
		}
	}
	_, err = p.Allocate()
	if !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("third allocation: %v", err)
	}
	if p.InUse() != 2 {
		t.Fatalf("in use %d", p.InUse())
	}
	a.Close()
	a.Close() // idempotent: must not release twice
	if p.InUse() != 1 {
		t.Fatalf("in use after close %d", p.InUse())
	}
	c, err := p.Allocate()
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if c.RTPAddr() != a.RTPAddr() {
		t.Fatalf("got %s, the only free pair is %s", c.RTPAddr(), a.RTPAddr())
	}
	b.Close()
	c.Close()
}

func TestPortsSkipForeignHolders(t *testing.T) {
	r := freeRange(t, 2)
	// Another process holds the RTCP port of the first pair.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.Low + 1})
	if err != nil {
		t.Skip("range taken meanwhile")
	}
	defer c.Close()
	p, _ := NewPorts(netip.MustParseAddr("127.0.0.1"), r, nil)
	a, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if int(a.RTPAddr().Port()) != r.Low+2 {
		t.Fatalf("got %s", a.RTPAddr())
	}
	if _, err := p.Allocate(); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("want exhausted with a bind error, got %v", err)
	}
}

func TestPortsConcurrent(t *testing.T) {
	r := freeRange(t, 16)
	p, _ := NewPorts(netip.MustParseAddr("127.0.0.1"), r, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[netip.AddrPort]bool{}
	for range 8 {
		wg.Go(func() {
			for range 20 {
				pp, err := p.Allocate()
				if err != nil {
					continue // exhaustion under contention is fine; duplicates are not
				}
				mu.Lock()
				if seen[pp.RTPAddr()] {
					t.Errorf("pair %s handed out twice", pp.RTPAddr())
				}
				seen[pp.RTPAddr()] = true
				mu.Unlock()
				mu.Lock()
				delete(seen, pp.RTPAddr())
				mu.Unlock()
				pp.Close()
			}
		})
	}
	wg.Wait()
	if p.InUse() != 0 {
		t.Fatalf("leaked %d pairs", p.InUse())
	}
}

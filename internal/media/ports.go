package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// PortRange is the UDP range a media node uses for RTP (--rtp-ports
// LOW-HIGH). RTP takes even ports and RTCP the odd port above, so a range
// holds (High-Low+1)/2 pairs when Low is even.
type PortRange struct {
	Low, High int
}

// ParsePortRange reads "LOW-HIGH", as given to --rtp-ports.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return PortRange{}, fmt.Errorf("rtp ports %q: want LOW-HIGH", s)
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("rtp ports %q: want LOW-HIGH with numbers", s)
	}
	r := PortRange{Low: l, High: h}
	return r, r.Validate()
}

// Validate checks the range holds at least one even/odd pair of ports.
func (r PortRange) Validate() error {
	if r.Low < 1024 || r.High > 65535 || r.Low > r.High {
		return fmt.Errorf("rtp ports %d-%d: want 1024 <= LOW <= HIGH <= 65535", r.Low, r.High)
	}
	if r.pairs() == 0 {
		return fmt.Errorf("rtp ports %d-%d: no even RTP port with its RTCP port inside", r.Low, r.High)
	}
	return nil
}

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Low, r.High) }

func (r PortRange) first() int { return (r.Low + 1) &^ 1 }

func (r PortRange) pairs() int {
	if r.High < r.first()+1 {
		return 0
	}
	return (r.High - r.first() + 1) / 2
}

// ErrPortsExhausted is returned when every RTP port pair of the range is in
// use; the B2BUA answers the call with 503 and the edge picks another node.
var ErrPortsExhausted = errors.New("media: rtp ports exhausted")

// Ports hands out RTP/RTCP socket pairs on one IP from one range. It is
// safe for concurrent use; its lock is held only while choosing a pair,
// never on the packet path.
type Ports struct {
	ip  netip.Addr
	r   PortRange
	log *slog.Logger

	mu   sync.Mutex
	used []bool // by pair index
	n    int    // pairs in use
	next int    // where the next search starts
}

// NewPorts makes an allocator for ip (the node's --rtp-ip) over r.
func NewPorts(ip netip.Addr, r PortRange, log *slog.Logger) (*Ports, error) {
	if !ip.IsValid() {
		return nil, fmt.Errorf("rtp ports: invalid ip")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ports{ip: ip.Unmap(), r: r, log: log, used: make([]bool, r.pairs())}, nil
}

// Capacity is the number of pairs in the range; InUse those handed out.
func (p *Ports) Capacity() int { return len(p.used) }

// InUse returns how many pairs are allocated now.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// Allocate binds the next free pair. Searching starts after the pair handed
// out last, so a released port is reused as late as possible and stray
// packets of an ended call do not reach a new one. A port held by another
// process is skipped.
func (p *Ports) Allocate() (*PortPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var lastErr error
	for range len(p.used) {
		i := p.next
		p.next = (p.next + 1) % len(p.used)
		if p.used[i] {
			continue
		}
		port := p.r.first() + 2*i
		pair, err := p.bind(port)
		if err != nil {
			lastErr = err
			p.log.Debug("rtp port unavailable", "port", port, "err", err)
			continue
		}
		p.used[i] = true
		p.n++
		pair.owner, pair.index = p, i
		return pair, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w: %d of %d pairs in %s free but none bindable on %s: %w", ErrPortsExhausted, len(p.used)-p.n, len(p.used), p.r, p.ip, lastErr)
	}
	return nil, fmt.Errorf("%w: all %d pairs in %s in use", ErrPortsExhausted, len(p.used), p.r)
}

func (p *Ports) bind(port int) (*PortPair, error) {
	network := "udp4"
	if p.ip.Is6() {
		network = "udp6"
	}
	rtp, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
	if err != nil {
		return nil, fmt.Errorf("binding rtp port %d: %w", port, err)
	}
	rtcp, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port+1))))
	if err != nil {
		rtp.Close()
		return nil, fmt.Errorf("binding rtcp port %d: %w", port+1, err)
	}
	return &PortPair{RTP: rtp, RTCP: rtcp}, nil
}

func (p *Ports) release(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used[i] {
		p.used[i] = false
		p.n--
	}
}

// PortPair is one leg's RTP and RTCP sockets. A Relay that is given a pair
// owns it and closes it; otherwise the caller must Close it.
type PortPair struct {
	RTP, RTCP *net.UDPConn

	owner *Ports
	index int
	once  sync.Once
	// closeRaw, when set, closes the descriptors the epoll engine took the
	// sockets over with (RTP and RTCP are then closed already).
	closeRaw func() error
}

// RTPAddr is the local RTP address, for SDP.
func (pp *PortPair) RTPAddr() netip.AddrPort { return pp.RTP.LocalAddr().(*net.UDPAddr).AddrPort() }

// RTCPAddr is the local RTCP address, for SDP (a=rtcp when not RTP+1).
func (pp *PortPair) RTCPAddr() netip.AddrPort { return pp.RTCP.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close closes both sockets and returns the ports to the allocator. It is
// idempotent.
func (pp *PortPair) Close() error {
	var err error
	pp.once.Do(func() {
		if pp.closeRaw != nil {
			err = pp.closeRaw()
		} else {
			err = errors.Join(pp.RTP.Close(), pp.RTCP.Close())
		}
		if pp.owner != nil {
			pp.owner.release(pp.index)
		}
	})
	return err
}

// ListenPair binds an RTP/RTCP pair on OS-chosen ports of ip (RTCP is then
// not RTP+1). Tests and tools use it where no range is configured.
func ListenPair(ip netip.Addr) (*PortPair, error) {
	network := "udp4"
	if ip.Is6() {
		network = "udp6"
	}
	rtp, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("binding rtp: %w", err)
	}
	rtcp, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		rtp.Close()
		return nil, fmt.Errorf("binding rtcp: %w", err)
	}
	return &PortPair{RTP: rtp, RTCP: rtcp}, nil
}

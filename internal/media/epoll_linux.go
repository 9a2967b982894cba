//go:build linux

package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const platformEngine = EngineEpoll

// The epoll engine.
//
// A process has one reactor: a few workers (GOMAXPROCS of them), started
// when the first relay registers and stopped when the last one closes. Each
// worker is a goroutine owning an epoll set; a relay's four sockets all go
// to the least loaded worker, so one call's packets are handled by one
// goroutine and its flow locks are never contended. The sockets are
// registered level-triggered, so a worker reads one datagram per ready
// socket and event and never pays for a read that finds nothing; what is
// left is reported again by the next epoll_wait.
//
// The epoll data of a socket is not a pointer but a slot in the reactor's
// table and the slot's generation. Close clears the slots, removes the
// sockets from epoll and then waits until the worker has finished the batch
// it may be in (the worker's epoch is odd while it handles a batch), so
// when the descriptors are closed no worker holds them, and an event read
// before the removal cannot reach a socket that reused the slot or the
// descriptor number.
//
// A worker never blocks in epoll_wait. Its epoll descriptor is itself
// registered with Go's netpoller (an epoll set is readable while any of its
// sockets is), so an idle worker parks like any goroutine, holding neither
// a P nor a thread, and wakes once per burst of packets. Awake, it calls
// epoll_wait with a zero timeout until nothing is ready. A worker blocked
// in epoll_wait would keep its P until sysmon takes it back (20 µs to
// 10 ms), and with one worker per P that stalls every other goroutine of
// the process (SIP, NATS) while the workers sleep. Shutdown closes the
// epoll file, which wakes the parked worker with an error.

const (
	epollBatch = 128  // events per epoll_wait
	tabChunk   = 1024 // slots per table chunk
	tabChunks  = 256  // 262,144 sockets: more than one IP has ports
	maxWorkers = 64
)

// rsock is a socket registered with a worker.
type rsock struct {
	gen  uint32
	fd   int
	r    *Relay
	f    *flow // the flow the socket's packets enter
	rtcp bool
	errs int // consecutive read errors; the worker's
}

type worker struct {
	epfd   int
	file   *os.File        // epfd, registered with the Go netpoller
	raw    syscall.RawConn // of file
	epoch  atomic.Uint64   // odd while a batch is handled
	closed atomic.Bool     // file closed on purpose
	relays int             // guarded by reactor.mu

	// The worker's own, reused for every packet.
	events [epollBatch]unix.EpollEvent
	buf    [maxPacket]byte
	sa     unix.RawSockaddrInet6
}

type reactor struct {
	mu      sync.Mutex // guards below; never taken on the packet path
	relays  int        // registered relays; the workers run while > 0
	workers []*worker
	wg      sync.WaitGroup
	gens    []uint32 // by slot: generation of its last socket
	free    []int32  // unused slots

	tab [tabChunks]atomic.Pointer[[tabChunk]atomic.Pointer[rsock]]
}

var theReactor reactor

func (rc *reactor) slot(i int32) *atomic.Pointer[rsock] {
	c := rc.tab[i/tabChunk].Load()
	if c == nil {
		return nil
	}
	return &c[i%tabChunk]
}

// lookup returns the socket of an event's slot and generation, or nil for
// an event about a socket that has been unregistered since.
func (rc *reactor) lookup(slot, gen int32) *rsock {
	if slot < 0 || slot >= tabChunks*tabChunk {
		return nil
	}
	p := rc.slot(slot)
	if p == nil {
		return nil
	}
	if s := p.Load(); s != nil && s.gen == uint32(gen) {
		return s
	}
	return nil
}

// allocSlotLocked puts s in a free slot with a new generation.
func (rc *reactor) allocSlotLocked(s *rsock) (int32, error) {
	var i int32
	if n := len(rc.free); n > 0 {
		i, rc.free = rc.free[n-1], rc.free[:n-1]
	} else {
		i = int32(len(rc.gens))
		if i >= tabChunks*tabChunk {
			return 0, errors.New("media: epoll table full")
		}
		if i%tabChunk == 0 {
			rc.tab[i/tabChunk].Store(new([tabChunk]atomic.Pointer[rsock]))
		}
		rc.gens = append(rc.gens, 0)
	}
	rc.gens[i]++
	s.gen = rc.gens[i]
	rc.slot(i).Store(s)
	return i, nil
}

// startLocked starts the workers.
func (rc *reactor) startLocked() (err error) {
	n := min(max(runtime.GOMAXPROCS(0), 1), maxWorkers)
	ws := make([]*worker, 0, n)
	defer func() {
		if err != nil {
			for _, w := range ws {
				_ = w.file.Close()
			}
		}
	}()
	for range n {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("epoll_create: %w", err)
		}
		// Non-blocking, so that os.NewFile hands it to the netpoller.
		if err := unix.SetNonblock(epfd, true); err != nil {
			_ = unix.Close(epfd)
			return fmt.Errorf("epoll descriptor: %w", err)
		}
		w := &worker{epfd: epfd, file: os.NewFile(uintptr(epfd), "media-epoll")}
		ws = append(ws, w)
		if w.raw, err = w.file.SyscallConn(); err != nil {
			return fmt.Errorf("epoll descriptor: %w", err)
		}
	}
	rc.workers = ws
	for _, w := range ws {
		rc.wg.Go(func() { w.run(rc) })
	}
	return nil
}

// stopLocked closes the workers' epoll files, which wakes them, and waits
// for them to return. Close waits for a worker inside its batch loop to
// leave it before the descriptor is closed.
func (rc *reactor) stopLocked() {
	for _, w := range rc.workers {
		w.closed.Store(true)
		_ = w.file.Close()
	}
	rc.wg.Wait()
	rc.workers = nil
}

// run handles batches of ready sockets until the epoll file is closed.
func (w *worker) run(rc *reactor) {
	var failed error
	// Read returns only once the file is closed (shutdown) or on failure.
	err := w.raw.Read(func(uintptr) bool {
		for {
			n, err := unix.EpollWait(w.epfd, w.events[:], 0)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				// Only a bad descriptor or buffer fails here: a bug.
				failed = err
				return true
			case n == 0:
				return false // park in the netpoller until one is ready
			}
			w.epoch.Add(1)
			for i := range n {
				ev := &w.events[i]
				if s := rc.lookup(ev.Fd, ev.Pad); s != nil {
					w.handle(s)
				}
			}
			w.epoch.Add(1)
		}
	})
	if failed == nil && !w.closed.Load() {
		failed = err // the netpoller refused the epoll descriptor
	}
	if failed != nil {
		// Every call on this worker would go silent: fail loudly.
		panic(fmt.Sprintf("media: epoll worker: %v", failed))
	}
}

// handle reads one datagram from a ready socket and relays it.
func (w *worker) handle(s *rsock) {
	from := s.f.from
	n, src, errno := recvRaw(s.fd, w.buf[:], &w.sa)
	if errno != 0 {
		if errno == unix.EAGAIN || errno == unix.EINTR {
			return // a spurious wake-up (e.g. a datagram with a bad checksum)
		}
		from.readErrors.Add(1)
		if s.errs++; s.errs == maxReadErrors {
			// Stop a socket that keeps failing instead of spinning on it;
			// Close's own removal then finds nothing, which is fine.
			_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
			s.r.log.Error("media socket stopped after repeated errors", "leg", from.id, "rtcp", s.rtcp, "err", errno)
		}
		return
	}
	s.errs = 0
	if n == len(w.buf) {
		from.invalid.Add(1)
		return
	}
	if s.rtcp {
		s.r.relayRTCP(from, s.f.to, w.buf[:n], src)
	} else {
		s.r.relayRTP(s.f, w.buf[:n], src)
	}
}

// quiesce returns once the worker is not in the batch it was handling when
// quiesce was called, if any.
func (w *worker) quiesce() {
	e := w.epoch.Load()
	if e&1 == 0 {
		return
	}
	for i := 0; w.epoch.Load() == e; i++ {
		if i < 50 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// epollRelay is where one relay's sockets are registered.
type epollRelay struct {
	w     *worker
	slots [4]int32
	socks [4]*rsock
}

// register hands the relay's four sockets to the least loaded worker.
// On error the caller closes the relay, which unregisters what was.
func (e *epollRelay) register(r *Relay) error {
	rc := &theReactor
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.relays == 0 {
		if err := rc.startLocked(); err != nil {
			return fmt.Errorf("starting media workers: %w", err)
		}
	}
	rc.relays++
	w := rc.workers[0]
	for _, x := range rc.workers[1:] {
		if x.relays < w.relays {
			w = x
		}
	}
	w.relays++
	e.w = w
	i := 0
	for _, f := range r.flows {
		for sock := range 2 {
			s := &rsock{fd: f.from.fd[sock], r: r, f: f, rtcp: sock == sockRTCP}
			slot, err := rc.allocSlotLocked(s)
			if err != nil {
				return err
			}
			e.slots[i], e.socks[i] = slot, s
			i++
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: slot, Pad: int32(s.gen)}
			if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
				return fmt.Errorf("epoll_ctl add: %w", err)
			}
		}
	}
	return nil
}

// unregister takes the relay's sockets from its worker and returns once
// the worker no longer uses them. Safe on a relay that never registered.
func (e *epollRelay) unregister() {
	w := e.w
	if w == nil {
		return
	}
	e.w = nil
	rc := &theReactor
	for i, s := range e.socks {
		if s != nil {
			rc.slot(e.slots[i]).Store(nil)
			_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, s.fd, nil) // ENOENT if stopped after errors
		}
	}
	w.quiesce()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, s := range e.socks {
		if s != nil {
			rc.free = append(rc.free, e.slots[i])
			e.socks[i] = nil
		}
	}
	w.relays--
	if rc.relays--; rc.relays == 0 {
		rc.stopLocked()
	}
}

// detachPair takes a pair's sockets out of the Go runtime for the epoll
// engine: it duplicates their descriptors and closes the *net.UDPConns,
// which removes them from Go's netpoller while the duplicates keep the
// sockets (and their ports) open. The pair's Close then closes the
// duplicates, so releasing the ports works as before.
func detachPair(pp *PortPair) (fds [2]int, v6 bool, err error) {
	fds = [2]int{-1, -1}
	closeFDs := func() error {
		var errs []error
		for _, fd := range fds {
			if fd >= 0 {
				errs = append(errs, unix.Close(fd))
			}
		}
		return errors.Join(errs...)
	}
	for i, c := range []*net.UDPConn{pp.RTP, pp.RTCP} {
		rc, err := c.SyscallConn()
		if err != nil {
			closeFDs()
			return fds, false, fmt.Errorf("raw socket: %w", err)
		}
		var dupErr error
		if err := rc.Control(func(s uintptr) {
			fds[i], dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
		}); err != nil || dupErr != nil {
			fds[i] = -1
			closeFDs()
			return fds, false, fmt.Errorf("duplicating socket: %w", errors.Join(err, dupErr))
		}
		// The duplicate shares the open file and so Go's O_NONBLOCK;
		// say so anyway, a blocking read would stall a whole worker.
		if err := unix.SetNonblock(fds[i], true); err != nil {
			closeFDs()
			return fds, false, fmt.Errorf("non-blocking socket: %w", err)
		}
	}
	domain, err := unix.GetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		closeFDs()
		return fds, false, fmt.Errorf("socket domain: %w", err)
	}
	pp.closeRaw = closeFDs
	if err := errors.Join(pp.RTP.Close(), pp.RTCP.Close()); err != nil {
		return fds, false, fmt.Errorf("handing sockets over: %w", err)
	}
	return fds, domain == unix.AF_INET6, nil
}

// recvRaw reads one datagram and its source without allocating.
func recvRaw(fd int, b []byte, sa *unix.RawSockaddrInet6) (int, netip.AddrPort, unix.Errno) {
	salen := uint32(unix.SizeofSockaddrInet6)
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		0, uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&salen)))
	if errno != 0 {
		return 0, netip.AddrPort{}, errno
	}
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	var addr netip.Addr
	switch sa.Family {
	case unix.AF_INET:
		addr = netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr)
	case unix.AF_INET6:
		addr = netip.AddrFrom16(sa.Addr).Unmap()
	}
	return int(n), netip.AddrPortFrom(addr, port), 0
}

// sendRaw sends one datagram without allocating; from an AF_INET6 socket
// an IPv4 destination goes as a v4-mapped address.
func sendRaw(fd int, v6 bool, b []byte, dst netip.AddrPort) error {
	addr := dst.Addr()
	var errno unix.Errno
	if v6 {
		var sa unix.RawSockaddrInet6
		sa.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
		sa.Addr = addr.As16()
		_, _, errno = unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			0, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet6)
	} else {
		addr = addr.Unmap()
		if !addr.Is4() {
			return unix.EAFNOSUPPORT
		}
		var sa unix.RawSockaddrInet4
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
		sa.Addr = addr.As4()
		_, _, errno = unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			0, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	}
	if errno != 0 {
		return errno
	}
	return nil
}

package media

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/strowger/strowger/internal/clock"
)

// BenchmarkRelayPacket measures the per-packet path alone: parse, latch
// check, payload-type map, rewrite and the sendto(2) toward the peer, with
// each engine's way of sending.
func BenchmarkRelayPacket(b *testing.B) {
	for _, e := range engines() {
		b.Run(e.String(), func(b *testing.B) { benchRelayPacket(b, e) })
	}
}

func benchRelayPacket(b *testing.B, e Engine) {
	a, peerB := newBenchEndpoint(b), newBenchEndpoint(b)
	r := benchRelay(b, e, clock.Real(), a.LocalAddr().(*net.UDPAddr).AddrPort(), peerB.LocalAddr().(*net.UDPAddr).AddrPort())
	defer r.Close()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: make([]byte, 160)}
	raw, _ := pkt.Marshal()
	buf := make([]byte, len(raw))
	f := r.flows[LegA]
	src := a.LocalAddr().(*net.UDPAddr).AddrPort()
	seq := uint16(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		copy(buf, raw)
		binary.BigEndian.PutUint16(buf[2:], seq)
		seq++
		r.relayRTP(f, buf, src)
	}
}

func newBenchEndpoint(b *testing.B) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	_ = c.SetReadBuffer(8 << 20)
	b.Cleanup(func() { c.Close() })
	return c
}

func benchRelay(b *testing.B, e Engine, clk clock.Clock, peerA, peerB netip.AddrPort) *Relay {
	pa, err := ListenPair(loopback)
	if err != nil {
		b.Fatal(err)
	}
	pb, err := ListenPair(loopback)
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewRelay(Config{Clock: clk, Timeout: -1, Engine: e},
		Leg{Ports: pa, Spec: LegSpec{Peer: peerA, Send: codecs(101), Recv: codecs(101)}},
		Leg{Ports: pb, Spec: LegSpec{Peer: peerB, Send: codecs(96), Recv: codecs(96)}})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkCalls runs N concurrent calls with 20 ms G.711 both ways (100
// packets/s per call) through real relays on loopback for a few seconds.
// The load generator runs in the same process and its CPU is included in
// cpu-cores. Run with: go test -run=NONE -bench=Calls -benchtime=1x.
func BenchmarkCalls(b *testing.B) {
	for _, e := range engines() {
		for _, n := range []int{1000, 2000} {
			b.Run(fmt.Sprintf("%v/%d", e, n), func(b *testing.B) { benchCalls(b, e, n, 5*time.Second) })
		}
	}
}

func benchCalls(b *testing.B, e Engine, calls int, dur time.Duration) {
	if testing.Short() {
		b.Skip("load benchmark")
	}
	genA, genB := newBenchEndpoint(b), newBenchEndpoint(b)
	_ = genA.SetWriteBuffer(8 << 20)
	_ = genB.SetWriteBuffer(8 << 20)
	addrA, addrB := genA.LocalAddr().(*net.UDPAddr).AddrPort(), genB.LocalAddr().(*net.UDPAddr).AddrPort()

	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	g0 := runtime.NumGoroutine()
	relays := make([]*Relay, calls)
	targetsA := make([]netip.AddrPort, calls) // where generator A sends call i
	targetsB := make([]netip.AddrPort, calls)
	for i := range relays {
		relays[i] = benchRelay(b, e, clock.Real(), addrA, addrB)
		targetsA[i], _ = relays[i].Local(LegA)
		targetsB[i], _ = relays[i].Local(LegB)
	}
	defer func() {
		for _, r := range relays {
			r.Close()
		}
	}()
	var ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	heapPerCall := float64(ms1.HeapInuse-ms0.HeapInuse) / float64(calls) / 1024
	goroutinesPerCall := float64(runtime.NumGoroutine()-g0) / float64(calls)

	for b.Loop() {
		res := runLoad(genA, genB, targetsA, targetsB, dur)
		b.ReportMetric(res.lossPct, "loss-%")
		b.ReportMetric(res.cpuCores, "cpu-cores")
		b.ReportMetric(res.p50.Seconds()*1e6, "p50-µs")
		b.ReportMetric(res.p99.Seconds()*1e6, "p99-µs")
		b.ReportMetric(res.pps, "pkts/s")
		b.ReportMetric(heapPerCall, "heap-KiB/call")
		b.ReportMetric(goroutinesPerCall, "goroutines/call")
	}
}

type loadResult struct {
	lossPct, cpuCores, pps float64
	p50, p99               time.Duration
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runLoad sends one packet per call and direction every 20 ms, spread over
// the period by sender groups, and counts what arrives on the other side.
func runLoad(genA, genB *net.UDPConn, targetsA, targetsB []netip.AddrPort, dur time.Duration) loadResult {
	const groups = 20
	start := time.Now()
	var sent, got atomic.Int64
	var mu sync.Mutex
	var transit []time.Duration
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for _, c := range []*net.UDPConn{genA, genB} {
		rwg.Go(func() {
			buf := make([]byte, 1500)
			local := make([]time.Duration, 0, 1<<16)
			for {
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				n, err := c.Read(buf)
				if err != nil {
					select {
					case <-stop:
						mu.Lock()
						transit = append(transit, local...)
						mu.Unlock()
						return
					default:
						continue
					}
				}
				if n < 12+8 {
					continue
				}
				got.Add(1)
				if len(local) < cap(local) {
					local = append(local, time.Since(start)-time.Duration(binary.BigEndian.Uint64(buf[12:])))
				}
			}
		})
	}
	cpu0 := cpuTime()
	var swg sync.WaitGroup
	for g := range groups {
		swg.Go(func() {
			pkt := make([]byte, 12+160)
			pkt[0] = 0x80
			phase := time.Duration(g) * 20 * time.Millisecond / groups
			for tick := 0; ; tick++ {
				at := start.Add(phase + time.Duration(tick)*20*time.Millisecond)
				if at.Sub(start) > dur {
					return
				}
				time.Sleep(time.Until(at))
				for i := g; i < len(targetsA); i += groups {
					for dir, c := range []*net.UDPConn{genA, genB} {
						tgt := targetsA[i]
						if dir == 1 {
							tgt = targetsB[i]
						}
						binary.BigEndian.PutUint16(pkt[2:], uint16(tick))
						binary.BigEndian.PutUint32(pkt[4:], uint32(tick*160))
						binary.BigEndian.PutUint32(pkt[8:], uint32(i<<1|dir))
						binary.BigEndian.PutUint64(pkt[12:], uint64(time.Since(start)))
						if _, err := c.WriteToUDPAddrPort(pkt, tgt); err == nil {
							sent.Add(1)
						}
					}
				}
			}
		})
	}
	swg.Wait()
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	time.Sleep(200 * time.Millisecond) // let the last packets land
	close(stop)
	rwg.Wait()
	slices.Sort(transit)
	res := loadResult{
		lossPct:  100 * float64(sent.Load()-got.Load()) / float64(max(1, sent.Load())),
		cpuCores: cpu.Seconds() / wall.Seconds(),
		pps:      float64(got.Load()) / wall.Seconds(),
	}
	if len(transit) > 0 {
		res.p50, res.p99 = transit[len(transit)/2], transit[len(transit)*99/100]
	}
	return res
}

//go:build linux

package media

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/clock"
)

// BenchmarkRelayFlows measures the CPU one relayed packet costs when many
// calls are up: 500 relays, and a C-like generator in the benchmark
// goroutine sending one packet to each in turn with raw sendto(2) (no Go
// allocation, no netpoller), never more than two packets per flow in
// flight. A sink socket drains what the relays send on. cpu-ns/pkt is the
// process's CPU (user+system, all threads) per packet that reached the
// sink; the "direct" case sends straight to the sink and is the
// generator's and sink's own share, to subtract. Run with:
//
//	go test -run=NONE -bench=RelayFlows -benchtime=200000x ./internal/media/
func BenchmarkRelayFlows(b *testing.B) {
	b.Run("direct", func(b *testing.B) { benchFlows(b, EngineAuto, 500, false) })
	for _, e := range engines() {
		b.Run(e.String(), func(b *testing.B) { benchFlows(b, e, 500, true) })
	}
}

func benchFlows(b *testing.B, e Engine, flows int, relay bool) {
	gen, sink := newBenchEndpoint(b), newBenchEndpoint(b)
	_ = gen.SetWriteBuffer(8 << 20)
	genAddr, sinkAddr := gen.LocalAddr().(*net.UDPAddr).AddrPort(), sink.LocalAddr().(*net.UDPAddr).AddrPort()
	targets := make([]netip.AddrPort, flows)
	for i := range targets {
		targets[i] = sinkAddr
		if relay {
			r := benchRelay(b, e, clock.Real(), genAddr, sinkAddr)
			b.Cleanup(func() { r.Close() })
			targets[i], _ = r.Local(LegA)
		}
	}
	raw, err := gen.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for !stop.Load() {
			_ = sink.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := sink.Read(buf); err == nil {
				got.Add(1)
			}
		}
	})
	pkt := make([]byte, 12+160)
	pkt[0], pkt[8] = 0x80, 1
	window := int64(2 * flows)
	// waitFor waits, sleeping, until at most n packets are in flight or
	// nothing has arrived for a while (lost ones never will).
	waitFor := func(sent, n int64) {
		last, idle := got.Load(), time.Now()
		for sent-got.Load() > n && time.Since(idle) < 100*time.Millisecond {
			time.Sleep(50 * time.Microsecond)
			if g := got.Load(); g != last {
				last, idle = g, time.Now()
			}
		}
	}
	var sendErrs int64
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	cpu0 := cpuTime()
	sent := int64(0)
	for round := uint16(0); sent < int64(b.N); round++ {
		pkt[2], pkt[3] = byte(round>>8), byte(round)
		_ = raw.Control(func(fd uintptr) {
			for i := 0; i < flows && sent < int64(b.N); i++ {
				if sendRaw(int(fd), false, pkt, targets[i]) != nil {
					sendErrs++
				}
				sent++
			}
		})
		waitFor(sent, window)
	}
	waitFor(sent, 0)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	n := got.Load()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(n, 1)), "cpu-ns/pkt")
	b.ReportMetric(100*float64(sent-n)/float64(max(sent, 1)), "loss-%")
	if sendErrs > 0 {
		b.Logf("%d send errors", sendErrs)
	}
}

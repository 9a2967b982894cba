package sipp

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"testing"

	"github.com/strowger/strowger/internal/media"
)

var update = flag.Bool("update", false, "rewrite "+PCAPFile)

// TestCommittedPCAPIsTheSweep keeps the committed pcap and the frames the
// tests expect in step.
func TestCommittedPCAPIsTheSweep(t *testing.T) {
	want := SweepPCAP()
	if *update {
		if err := os.WriteFile(PCAPFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(PCAPFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from SweepPCAP(); run go test ./test/sipp -update", PCAPFile)
	}
}

// TestSweepPCAPLayout walks the file as a pcap reader does.
func TestSweepPCAPLayout(t *testing.T) {
	b := SweepPCAP()
	le, be := binary.LittleEndian, binary.BigEndian
	if le.Uint32(b) != 0xa1b2c3d4 || le.Uint32(b[20:]) != 1 {
		t.Fatal("not a little-endian Ethernet pcap")
	}
	frames := SweepFramesPCMU()
	off, n := 24, 0
	for off < len(b) {
		incl := int(le.Uint32(b[off+8:]))
		pkt := b[off+16 : off+16+incl]
		if be.Uint16(pkt[12:]) != 0x0800 || pkt[14+9] != 17 {
			t.Fatalf("packet %d is not IPv4/UDP", n)
		}
		if ipChecksum(pkt[14:34]) != 0 {
			t.Fatalf("packet %d: bad IPv4 header checksum", n)
		}
		udp := pkt[34:]
		if int(be.Uint16(udp[4:])) != len(udp) {
			t.Fatalf("packet %d: UDP length %d, have %d bytes", n, be.Uint16(udp[4:]), len(udp))
		}
		rtp := udp[8:]
		if rtp[0]>>6 != 2 || rtp[1]&0x7f != 0 || be.Uint16(rtp[2:]) != uint16(n) || be.Uint32(rtp[4:]) != uint32(n*FrameSamples) {
			t.Fatalf("packet %d: RTP header % x", n, rtp[:12])
		}
		if !bytes.Equal(rtp[12:], frames[n]) {
			t.Fatalf("packet %d: payload is not frame %d", n, n)
		}
		if sec, usec := le.Uint32(b[off:]), le.Uint32(b[off+4:]); int(sec-1700000000)*1_000_000+int(usec) != n*20000 {
			t.Fatalf("packet %d: not 20 ms after the one before", n)
		}
		off += 16 + incl
		n++
	}
	if n != SweepFrames {
		t.Fatalf("%d packets, want %d", n, SweepFrames)
	}
}

// TestSweepFramesAreDistinctAudio checks the frames are loud enough to be
// told from silence and all different, as the call tests assume.
func TestSweepFramesAreDistinctAudio(t *testing.T) {
	seen := map[string]int{}
	for i, f := range SweepFramesPCMU() {
		if j, ok := seen[string(f)]; ok {
			t.Fatalf("frames %d and %d are equal", j, i)
		}
		seen[string(f)] = i
		var peak int16
		for _, c := range f {
			if v := media.UlawDecode(c); v > peak {
				peak = v
			}
		}
		if peak < 4000 {
			t.Fatalf("frame %d peaks at %d: too quiet", i, peak)
		}
	}
}

package media

import (
	"bytes"
	"testing"
)

// Reference points from ITU-T G.711 tables 1 and 2: decoder outputs at the
// ends of each law, scaled to 16 bits (µ-law values ×4, A-law ×8).
func TestG711KnownValues(t *testing.T) {
	ulaw := []struct {
		code uint8
		want int16
	}{
		{0xff, 0}, {0x7f, 0}, // the two zeros
		{0xfe, 8}, {0x7e, -8},
		{0x80, 32124}, {0x00, -32124}, // 8031 and -8031
		{0xef, 132},               // first step of segment 1: 33 ×4
		{0xf0, 120}, {0x70, -120}, // last step of segment 0: 30 ×4
	}
	for _, tc := range ulaw {
		if got := UlawDecode(tc.code); got != tc.want {
			t.Errorf("UlawDecode(%#02x) = %d, want %d", tc.code, got, tc.want)
		}
	}
	alaw := []struct {
		code uint8
		want int16
	}{
		{0xd5, 8}, {0x55, -8}, // smallest magnitudes: 1 ×8
		{0xaa, 32256}, {0x2a, -32256}, // 4032 ×8
		{0xda, 248}, // 0x8f before even-bit inversion: segment 0, step 15: 31 ×8
		{0xc5, 264}, // 0x90: first step of segment 1: 33 ×8
	}
	for _, tc := range alaw {
		if got := AlawDecode(tc.code); got != tc.want {
			t.Errorf("AlawDecode(%#02x) = %d, want %d", tc.code, got, tc.want)
		}
	}
	encodes := []struct {
		in         int16
		ulaw, alaw uint8
	}{
		{0, 0xff, 0xd5},
		{-1, 0x7f, 0x55},
		{32767, 0x80, 0xaa},
		{-32768, 0x00, 0x2a},
		{1000, 0xce, 0xfa},
		{-1000, 0x4e, 0x7a},
	}
	for _, tc := range encodes {
		if got := UlawEncode(tc.in); got != tc.ulaw {
			t.Errorf("UlawEncode(%d) = %#02x, want %#02x", tc.in, got, tc.ulaw)
		}
		if got := AlawEncode(tc.in); got != tc.alaw {
			t.Errorf("AlawEncode(%d) = %#02x, want %#02x", tc.in, got, tc.alaw)
		}
	}
}

func TestG711Properties(t *testing.T) {
	// Every code word's value encodes back to a code with the same value
	// (µ-law has two zeros, so compare values, not codes).
	for c := range 256 {
		if v := UlawDecode(uint8(c)); UlawDecode(UlawEncode(v)) != v {
			t.Errorf("µ-law %#02x: %d does not round-trip", c, v)
		}
		if v := AlawDecode(uint8(c)); AlawEncode(v) != uint8(c) {
			t.Errorf("A-law %#02x: %d encodes to %#02x", c, v, AlawEncode(v))
		}
	}
	// Encoding is monotonic and the error stays within half a step of the
	// segment (step doubles with each segment: 2^(seg+3) for µ-law ×4 units).
	prevU, prevA := UlawDecode(UlawEncode(-32768)), AlawDecode(AlawEncode(-32768))
	for s := -32768; s <= 32767; s++ {
		u, a := UlawDecode(UlawEncode(int16(s))), AlawDecode(AlawEncode(int16(s)))
		if u < prevU || a < prevA {
			t.Fatalf("not monotonic at %d", s)
		}
		prevU, prevA = u, a
		if d := abs(int(u) - s); d > 1024+4 {
			t.Fatalf("µ-law error %d at %d", d, s)
		}
		if d := abs(int(a) - s); d > 1024+8 {
			t.Fatalf("A-law error %d at %d", d, s)
		}
		if as := abs(s); as < 256 && abs(int(u)-s) > 8 {
			t.Fatalf("µ-law small-signal error %d at %d", abs(int(u)-s), s)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestG711Slices(t *testing.T) {
	pcm := []int16{0, 100, -100, 32767, -32768}
	u := make([]byte, len(pcm))
	a := make([]byte, len(pcm))
	UlawEncodeSlice(u, pcm)
	AlawEncodeSlice(a, pcm)
	du := make([]int16, len(pcm))
	da := make([]int16, len(pcm))
	UlawDecodeSlice(du, u)
	AlawDecodeSlice(da, a)
	for i := range pcm {
		if du[i] != UlawDecode(UlawEncode(pcm[i])) || da[i] != AlawDecode(AlawEncode(pcm[i])) {
			t.Fatalf("slice %d", i)
		}
	}
	UlawEncodeSlice(nil, nil) // empty input is fine
	if !bytes.Equal(u[:1], []byte{0xff}) {
		t.Fatal("silence")
	}
}

func BenchmarkUlawEncode160(b *testing.B) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(i * 200)
	}
	out := make([]byte, 160)
	for b.Loop() {
		UlawEncodeSlice(out, pcm)
	}
}

package media

// G.711 (ITU-T Rec. G.711, 1988) companding between 16-bit linear PCM and
// 8-bit µ-law or A-law, as carried by RTP payload types 0 (PCMU) and 8 (PCMA).
//
// Linear samples are 16-bit; G.711 itself works on 14-bit (µ-law) and 13-bit
// (A-law) magnitudes, so decoded values are those scaled by 4 and 8. The
// decode tables are derived once from the segment definitions; encoding
// finds the segment from the position of the highest set bit.

import "math/bits"

const (
	ulawBias = 0x84  // 33 in 14-bit units, scaled by 4: shifts segment edges to powers of two
	ulawClip = 32635 // largest magnitude that still encodes without overflow after biasing
)

var (
	ulawToLinear [256]int16
	alawToLinear [256]int16
)

func init() {
	for i := range 256 {
		ulawToLinear[i] = ulawDecode(uint8(i))
		alawToLinear[i] = alawDecode(uint8(i))
	}
}

// ulawDecode expands one µ-law code word. Code words are transmitted with
// all bits inverted (G.711 §3.2); after inversion bit 7 set means negative.
func ulawDecode(u uint8) int16 {
	u = ^u
	exp := (u >> 4) & 7
	mant := int32(u & 0x0f)
	mag := ((mant<<3 | 0x84) << exp) - ulawBias
	if u&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// alawDecode expands one A-law code word. Even bits are inverted on the
// line (G.711 §3.3, the 0x55 mask); bit 7 set means positive.
func alawDecode(a uint8) int16 {
	a ^= 0x55
	exp := (a >> 4) & 7
	mant := int32(a & 0x0f)
	var mag int32
	if exp == 0 {
		mag = mant<<4 | 8 // segment 0 is linear, step 2 (13-bit), reconstructed at mid-step
	} else {
		mag = (mant<<4 | 0x108) << (exp - 1)
	}
	if a&0x80 != 0 {
		return int16(mag)
	}
	return int16(-mag)
}

// UlawDecode returns the linear value of one µ-law code word.
func UlawDecode(u uint8) int16 { return ulawToLinear[u] }

// AlawDecode returns the linear value of one A-law code word.
func AlawDecode(a uint8) int16 { return alawToLinear[a] }

// UlawEncode compresses one linear sample to µ-law.
func UlawEncode(s int16) uint8 {
	v := int32(s)
	var sign uint8
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, ulawClip) + ulawBias
	// v is now in [0x84, 0x7fff]; its top bit (7..14) selects the segment.
	exp := uint8(bits.Len32(uint32(v)) - 8)
	mant := uint8(v>>(exp+3)) & 0x0f
	return ^(sign | exp<<4 | mant)
}

// AlawEncode compresses one linear sample to A-law.
func AlawEncode(s int16) uint8 {
	v := int32(s) >> 3  // 13-bit
	mask := uint8(0xd5) // positive: sign bit set, even bits inverted
	if v < 0 {
		v, mask = -v-1, 0x55
	}
	var code uint8
	if v < 32 {
		code = uint8(v >> 1)
	} else {
		exp := uint8(bits.Len32(uint32(v)) - 5) // 1..7 for v in [32, 4095]
		code = exp<<4 | uint8(v>>exp)&0x0f
	}
	return code ^ mask
}

// UlawEncodeSlice encodes src into dst, which must be at least as long.
func UlawEncodeSlice(dst []byte, src []int16) {
	_ = dst[:len(src)] // one bounds check up front
	for i, s := range src {
		dst[i] = UlawEncode(s)
	}
}

// UlawDecodeSlice decodes src into dst, which must be at least as long.
func UlawDecodeSlice(dst []int16, src []byte) {
	_ = dst[:len(src)] // one bounds check up front
	for i, c := range src {
		dst[i] = ulawToLinear[c]
	}
}

// AlawEncodeSlice encodes src into dst, which must be at least as long.
func AlawEncodeSlice(dst []byte, src []int16) {
	_ = dst[:len(src)] // one bounds check up front
	for i, s := range src {
		dst[i] = AlawEncode(s)
	}
}

// AlawDecodeSlice decodes src into dst, which must be at least as long.
func AlawDecodeSlice(dst []int16, src []byte) {
	_ = dst[:len(src)] // one bounds check up front
	for i, c := range src {
		dst[i] = alawToLinear[c]
	}
}

package media

import "encoding/binary"

// The relay rewrites RTP and RTCP in place on the bytes it read: a full
// unmarshal (pion/rtp) would allocate for CSRCs and extensions on every
// packet. These helpers validate just enough to rewrite safely; tests and
// the fuzz target check them against pion/rtp and pion/rtcp.

const rtpHeaderSize = 12

// rtpInfo is the fixed part of an RTP header we relay on.
type rtpInfo struct {
	pt      uint8
	marker  bool
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload int // offset of the payload
	end     int // end of the payload (padding removed)
}

// parseRTP validates an RTP packet (RFC 3550 §5.1): version 2, CSRC list,
// header extension and padding inside the packet. It does not allocate.
func parseRTP(b []byte) (rtpInfo, bool) {
	if len(b) < rtpHeaderSize || b[0]>>6 != 2 {
		return rtpInfo{}, false
	}
	off := rtpHeaderSize + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return rtpInfo{}, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if off > end {
		return rtpInfo{}, false
	}
	if b[0]&0x20 != 0 {
		pad := int(b[end-1])
		if pad == 0 || off+pad > end {
			return rtpInfo{}, false
		}
		end -= pad
	}
	return rtpInfo{
		pt:      b[1] & 0x7f,
		marker:  b[1]&0x80 != 0,
		seq:     binary.BigEndian.Uint16(b[2:]),
		ts:      binary.BigEndian.Uint32(b[4:]),
		ssrc:    binary.BigEndian.Uint32(b[8:]),
		payload: off,
		end:     end,
	}, true
}

// rewriteRTP sets payload type, sequence number, timestamp and SSRC.
func rewriteRTP(b []byte, pt uint8, seq uint16, ts, ssrc uint32) {
	b[1] = b[1]&0x80 | pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
}

// RTCP packet types (RFC 3550 §12.1, RFC 4585, RFC 3611).
const (
	rtcpSR    = 200
	rtcpRR    = 201
	rtcpSDES  = 202
	rtcpBYE   = 203
	rtcpAPP   = 204
	rtcpRTPFB = 205
	rtcpPSFB  = 206
	rtcpXR    = 207
)

// validRTCP checks a compound RTCP packet's framing: every sub-packet
// version 2 with a length inside the datagram and the first one an SR or RR
// (RFC 3550 §6.1; RFC 5506 reduced-size packets start with feedback and are
// accepted too).
func validRTCP(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	if pt := b[1]; pt < rtcpSR || pt > rtcpXR {
		return false
	}
	for off := 0; off < len(b); {
		if len(b)-off < 4 || b[off]>>6 != 2 {
			return false
		}
		n := 4 * (int(binary.BigEndian.Uint16(b[off+2:])) + 1)
		if n > len(b)-off {
			return false
		}
		off += n
	}
	return true
}

// ssrcMap translates the SSRC space of one RTCP direction (from leg X to
// leg Y) the way an RTP translator must (RFC 3550 §7): X's own SSRC becomes
// the SSRC we send to Y with, and reports about the stream X receives (our
// SSRC toward X) are turned into reports about Y's real source.
type ssrcMap struct {
	// Sender side: packets X sent about itself.
	fromIn, fromOut uint32 // X's real SSRC → our SSRC toward Y
	fromOK          bool
	tsOff           uint32 // added to SR RTP timestamps
	// Report side: X's reports on what it receives from us.
	reportIn, reportOut uint32 // our SSRC toward X → Y's real SSRC
	reportOK            bool
	seqOff              uint16 // subtracted from the extended highest sequence
}

func (m *ssrcMap) sender(b []byte) {
	if m.fromOK && binary.BigEndian.Uint32(b) == m.fromIn {
		binary.BigEndian.PutUint32(b, m.fromOut)
	}
}

func (m *ssrcMap) reportBlock(b []byte) {
	if m.reportOK && binary.BigEndian.Uint32(b) == m.reportIn {
		binary.BigEndian.PutUint32(b, m.reportOut)
		ext := binary.BigEndian.Uint32(b[8:])
		lo := uint16(ext) - m.seqOff
		binary.BigEndian.PutUint32(b[8:], ext&0xffff0000|uint32(lo))
	}
}

// translateRTCP rewrites a valid compound RTCP packet in place and returns
// its new length: BYE sub-packets are removed, because the relay keeps its
// own SSRC alive when a source leaves (a re-pointed leg) and a BYE would
// make the far end drop the stream that continues.
func translateRTCP(b []byte, m *ssrcMap) int {
	end := len(b)
	for off := 0; off < end; {
		n := 4 * (int(binary.BigEndian.Uint16(b[off+2:])) + 1)
		p := b[off : off+n]
		count := int(p[0] & 0x1f)
		switch p[1] {
		case rtcpSR, rtcpRR:
			blocks := 8
			if p[1] == rtcpSR {
				blocks = 28
				if n >= 28 {
					binary.BigEndian.PutUint32(p[16:], binary.BigEndian.Uint32(p[16:])+m.tsOff)
				}
			}
			if n >= 8 {
				m.sender(p[4:])
			}
			for i := 0; i < count && blocks+24 <= n; i, blocks = i+1, blocks+24 {
				m.reportBlock(p[blocks:])
			}
		case rtcpSDES:
			// Chunks: SSRC, items, null-terminated and padded to 32 bits.
			c := 4
			for i := 0; i < count && c+4 <= n; i++ {
				m.sender(p[c:])
				c += 4
				for c < n && p[c] != 0 {
					if c+1 >= n {
						c = n
						break
					}
					c += 2 + int(p[c+1])
				}
				c = (c + 4) &^ 3 // skip the terminating null and the padding
			}
		case rtcpBYE:
			copy(b[off:], b[off+n:end])
			end -= n
			continue
		case rtcpAPP, rtcpXR:
			if n >= 8 {
				m.sender(p[4:])
			}
		case rtcpRTPFB, rtcpPSFB:
			if n >= 12 {
				m.sender(p[4:])
				if m.reportOK && binary.BigEndian.Uint32(p[8:]) == m.reportIn {
					binary.BigEndian.PutUint32(p[8:], m.reportOut)
				}
			}
		}
		off += n
	}
	return end
}

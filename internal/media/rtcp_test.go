package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtcp"
)

// FuzzRTCP checks that translation never panics, never grows a packet and
// leaves a compound packet whose framing is still valid.
func FuzzRTCP(f *testing.F) {
	add := func(pkts ...rtcp.Packet) {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(&rtcp.SenderReport{SSRC: 1, RTPTime: 5, Reports: []rtcp.ReceptionReport{{SSRC: 2, LastSequenceNumber: 70000}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "x"}}}}})
	add(&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2}}}, &rtcp.Goodbye{Sources: []uint32{1}})
	add(&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2})
	add(&rtcp.ReceiverReport{SSRC: 1}, &rtcp.ApplicationDefined{SSRC: 1, Name: "test", Data: []byte{1, 2, 3, 4}})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !validRTCP(b) {
			return
		}
		m := ssrcMap{fromIn: 1, fromOut: 10, fromOK: true, tsOff: 7, reportIn: 2, reportOut: 20, reportOK: true, seqOff: 3}
		c := bytes.Clone(b)
		n := translateRTCP(c, &m)
		if n > len(b) || n < 0 || n%4 != 0 && n != len(b) {
			t.Fatalf("length %d from %d", n, len(b))
		}
		if n > 0 && !validFraming(c[:n]) {
			t.Fatalf("translation broke framing: %x -> %x", b, c[:n])
		}
	})
}

func validFraming(b []byte) bool {
	for off := 0; off < len(b); {
		if len(b)-off < 4 || b[off]>>6 != 2 {
			return false
		}
		off += 4 * (int(b[off+2])<<8 | int(b[off+3]) + 1)
		if off > len(b) {
			return false
		}
	}
	return true
}

func TestTranslateRTCPReportBlockSequence(t *testing.T) {
	b, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2, LastSequenceNumber: 3<<16 | 5}}}})
	m := ssrcMap{reportIn: 2, reportOut: 20, reportOK: true, seqOff: 10}
	n := translateRTCP(b, &m)
	pk, err := rtcp.Unmarshal(b[:n])
	if err != nil {
		t.Fatal(err)
	}
	rr := pk[0].(*rtcp.ReceiverReport)
	low, off := uint16(5), uint16(10)
	wrapped := low - off
	// The sender SSRC is unknown to the map and stays; the block is about
	// our stream and is turned into one about the real source, with the
	// offset taken out of the sequence number (wrapping in 16 bits).
	if rr.SSRC != 1 || rr.Reports[0].SSRC != 20 || rr.Reports[0].LastSequenceNumber != 3<<16|uint32(wrapped) {
		t.Fatalf("%+v", rr)
	}
}

package media

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

func TestEventRoundTrip(t *testing.T) {
	// RFC 4733 §2.3 layout: digit 9, end bit, volume 10, duration 1280.
	want := []byte{9, 0x80 | 10, 0x05, 0x00}
	e, err := ParseEvent(want)
	if err != nil {
		t.Fatal(err)
	}
	if e != (Event{Code: 9, End: true, Volume: 10, Duration: 1280}) {
		t.Fatalf("%+v", e)
	}
	got, err := AppendEvent(nil, e)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%x %v", got, err)
	}
	// The reserved bit is ignored on receipt.
	if e2, _ := ParseEvent([]byte{9, 0xc0 | 10, 5, 0}); e2 != e {
		t.Fatalf("reserved bit changed the event: %+v", e2)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, err := ParseEvent(bad); !errors.Is(err, ErrEventPayload) {
			t.Errorf("ParseEvent(%x) = %v", bad, err)
		}
	}
	if _, err := AppendEvent(nil, Event{Volume: 64}); err == nil {
		t.Error("volume 64 accepted")
	}
}

func TestDigits(t *testing.T) {
	for i, d := range []byte("0123456789*#ABCD") {
		code, ok := DigitEvent(d)
		back, ok2 := EventDigit(code)
		if !ok || !ok2 || int(code) != i || back != d {
			t.Errorf("digit %c: code %d back %c", d, code, back)
		}
	}
	if c, ok := DigitEvent('b'); !ok || c != 13 {
		t.Error("lower-case b")
	}
	if _, ok := EventDigit(16); ok {
		t.Error("flash is not a digit")
	}
	if _, ok := DigitEvent('x'); ok {
		t.Error("x is not a digit")
	}
}

func FuzzEvent(f *testing.F) {
	f.Add([]byte{1, 0x8a, 0x03, 0x20})
	f.Add([]byte{16, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvent(b)
		if err != nil {
			return
		}
		out, err := AppendEvent(nil, e)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", e, err)
		}
		// Only the reserved bit may differ.
		if out[0] != b[0] || out[1] != b[1]&^0x40 || !bytes.Equal(out[2:], b[2:]) {
			t.Fatalf("%x became %x", b, out)
		}
	})
}

// FuzzRTP checks the relay's allocation-free RTP header parser against
// pion/rtp and that rewriting keeps a packet pion can read.
func FuzzRTP(f *testing.F) {
	seed := func(h rtp.Header, payload []byte) {
		p := rtp.Packet{Header: h, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 7}, make([]byte, 160))
	seed(rtp.Header{Version: 2, Marker: true, PayloadType: 101, SequenceNumber: 65535, SSRC: 9, CSRC: []uint32{1, 2}}, []byte{1, 0x80, 0, 160})
	ext := rtp.Header{Version: 2, PayloadType: 8, Extension: true, ExtensionProfile: 0xbede}
	_ = ext.SetExtension(1, []byte{0xaa})
	seed(ext, []byte{1, 2, 3})
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0, 2}) // padding
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, ok := parseRTP(b)
		var p rtp.Packet
		perr := p.Unmarshal(b)
		if !ok {
			return // stricter than pion is fine (e.g. zero padding length)
		}
		if perr != nil && b[0]&0x10 != 0 {
			return // pion also checks the elements inside an extension; the relay passes them through untouched
		}
		if perr != nil {
			t.Fatalf("we accept what pion refuses (%v): %x", perr, b)
		}
		if p.PayloadType != info.pt || p.SequenceNumber != info.seq || p.Timestamp != info.ts || p.SSRC != info.ssrc || p.Marker != info.marker {
			t.Fatalf("header mismatch: pion %+v ours %+v", p.Header, info)
		}
		if !bytes.Equal(p.Payload, b[info.payload:info.end]) {
			t.Fatalf("payload mismatch: pion %x ours %x", p.Payload, b[info.payload:info.end])
		}
		c := bytes.Clone(b)
		rewriteRTP(c, 96, info.seq+1, info.ts+160, 0x01020304)
		var q rtp.Packet
		if err := q.Unmarshal(c); err != nil || q.PayloadType != 96 || q.SSRC != 0x01020304 || q.Marker != info.marker {
			t.Fatalf("rewritten packet: %+v %v", q.Header, err)
		}
	})
}

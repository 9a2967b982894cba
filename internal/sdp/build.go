package sdp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	pionsdp "github.com/pion/sdp/v3"
)

// Local is our side of a session: the media node's address and the ports
// allocated for one call leg, and the o= line the leg keeps for its life.
type Local struct {
	Origin Origin
	Addr   netip.Addr
	Port   int
	// RTCPPort is announced with a=rtcp when it is not Port+1; 0 means Port+1.
	RTCPPort int
}

// NewOrigin starts the o= line of a new session: a random session id, our
// address, version 1. Keep it with the leg; use Origin.Next for every
// changed SDP and the same value for an unchanged one.
func NewOrigin(addr netip.Addr) Origin {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	// Keep it below 2^62 so it fits every int64 parser on the other side.
	return Origin{Username: "strowger", SessionID: binary.BigEndian.Uint64(b[:]) >> 2, Version: 1, Addr: addr.String()}
}

func (l Local) check() error {
	if !l.Addr.IsValid() {
		return fmt.Errorf("sdp: local address not set")
	}
	if l.Port <= 0 || l.Port > 65535 || l.RTCPPort < 0 || l.RTCPPort > 65535 {
		return fmt.Errorf("sdp: local ports %d/%d out of range", l.Port, l.RTCPPort)
	}
	return nil
}

func addrType(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "IP4"
	}
	return "IP6"
}

func (l Local) session() *pionsdp.SessionDescription {
	o := l.Origin
	if o.Username == "" {
		o.Username = "-"
	}
	oaddr := o.Addr
	if oaddr == "" {
		oaddr = l.Addr.String()
	}
	return &pionsdp.SessionDescription{
		Origin: pionsdp.Origin{
			Username: o.Username, SessionID: o.SessionID, SessionVersion: o.Version,
			NetworkType: "IN", AddressType: addrType(l.Addr), UnicastAddress: oaddr,
		},
		SessionName: "strowger",
		ConnectionInformation: &pionsdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType(l.Addr),
			Address: &pionsdp.Address{Address: l.Addr.Unmap().String()},
		},
		TimeDescriptions: []pionsdp.TimeDescription{{}},
	}
}

func (l Local) audio(codecs []Codec, dir Direction, ptime int) *pionsdp.MediaDescription {
	md := &pionsdp.MediaDescription{
		MediaName: pionsdp.MediaName{Media: "audio", Port: pionsdp.RangedPort{Value: l.Port}, Protos: []string{"RTP", "AVP"}},
	}
	for _, c := range codecs {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(c.PT)))
	}
	for _, c := range codecs {
		v := fmt.Sprintf("%d %s/%d", c.PT, c.Name, c.ClockRate)
		if c.Channels > 1 {
			v += "/" + strconv.Itoa(int(c.Channels))
		}
		md.Attributes = append(md.Attributes, pionsdp.NewAttribute("rtpmap", v))
		if c.Fmtp != "" {
			md.Attributes = append(md.Attributes, pionsdp.NewAttribute("fmtp", fmt.Sprintf("%d %s", c.PT, c.Fmtp)))
		}
	}
	if ptime > 0 {
		md.Attributes = append(md.Attributes, pionsdp.NewAttribute("ptime", strconv.Itoa(ptime)))
	}
	if l.RTCPPort != 0 && l.RTCPPort != l.Port+1 {
		md.Attributes = append(md.Attributes, pionsdp.NewAttribute("rtcp", strconv.Itoa(l.RTCPPort)))
	}
	md.Attributes = append(md.Attributes, pionsdp.NewPropertyAttribute(dir.String()))
	return md
}

// Offer builds our offer (or re-offer) for one audio stream. For a
// re-offer pass the leg's Origin.Next(); to put the far end on hold pass
// SendOnly (or Inactive).
func Offer(l Local, codecs []Codec, dir Direction, ptime int) ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if len(codecs) == 0 {
		return nil, fmt.Errorf("sdp: offer without codecs")
	}
	s := l.session()
	s.MediaDescriptions = []*pionsdp.MediaDescription{l.audio(codecs, dir, ptime)}
	b, err := s.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sdp: marshalling offer: %w", err)
	}
	return b, nil
}

// Answer builds our answer to offer from the negotiation n: one m= line per
// offered line in the same order, the audio stream with our address and
// n's codecs and direction, every other line rejected with port 0.
func Answer(l Local, offer *Session, n *Negotiated) ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if n == nil || n.Index < 0 || n.Index >= len(offer.Media) {
		return nil, fmt.Errorf("sdp: negotiation does not belong to this offer")
	}
	s := l.session()
	for i := range offer.Media {
		m := &offer.Media[i]
		if i == n.Index {
			ptime := 0
			if m.Ptime != 0 {
				ptime = n.Ptime
			}
			s.MediaDescriptions = append(s.MediaDescriptions, l.audio(n.Codecs, n.LocalDirection, ptime))
			continue
		}
		// RFC 3264 §6: a rejected stream keeps its media and proto, port 0,
		// and at least one format.
		s.MediaDescriptions = append(s.MediaDescriptions, &pionsdp.MediaDescription{
			MediaName: pionsdp.MediaName{
				Media: m.Kind, Port: pionsdp.RangedPort{Value: 0},
				Protos: strings.Split(m.Proto, "/"), Formats: m.Formats[:1],
			},
		})
	}
	b, err := s.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sdp: marshalling answer: %w", err)
	}
	return b, nil
}

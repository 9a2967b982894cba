package sdp

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// DefaultPtime is the packet time assumed when an offer has no a=ptime.
const DefaultPtime = 20

// DefaultTelephoneEventPT is the payload type we use for telephone-event in
// our own fresh offers.
const DefaultTelephoneEventPT = 101

// maxEvent is the highest RFC 4733 event we relay and announce: DTMF 0-9,
// *, #, A-D (0-15) and flash (16).
const maxEvent = 16

// DefaultCodecs is what we offer when we start a session ourselves: PCMU,
// PCMA and telephone-event 0-16 on PT 101.
func DefaultCodecs() []Codec {
	return []Codec{
		{PT: 0, Name: PCMU, ClockRate: 8000},
		{PT: 8, Name: PCMA, ClockRate: 8000},
		{PT: DefaultTelephoneEventPT, Name: TelephoneEvent, ClockRate: 8000, Fmtp: "0-16"},
	}
}

// IsTelephoneEvent reports whether c is RFC 4733 telephone-event at 8 kHz.
func (c Codec) IsTelephoneEvent() bool { return c.Is(TelephoneEvent, 8000) }

// IsAudio reports whether c is an audio codec we relay (PCMU or PCMA).
func (c Codec) IsAudio() bool { return c.Is(PCMU, 8000) || c.Is(PCMA, 8000) }

// Negotiated is the outcome of an offer/answer exchange for the one audio
// stream Strowger anchors.
type Negotiated struct {
	// Index is the m= line of the audio stream; the others are rejected.
	Index int
	// Codecs are the accepted payload formats with the numbers the remote
	// party receives: what we send to it with. Audio codecs come in the
	// offerer's preference order; telephone-event, if accepted, is among them.
	Codecs []Codec
	// RecvCodecs are the same formats with the numbers the remote party
	// sends to us. They equal Codecs when we answered (we keep the offerer's
	// numbers); they may differ when we offered and the answerer renumbered.
	RecvCodecs []Codec
	// Ptime is the packet time in ms (DefaultPtime when not announced).
	Ptime int
	// Remote and RemoteRTCP are where the remote party wants RTP and RTCP.
	// Their address is unspecified (0.0.0.0) on RFC 2543 hold.
	Remote, RemoteRTCP netip.AddrPort
	// RemoteDirection is what the remote party declared; LocalDirection is
	// ours (what our answer says, or what our offer said).
	RemoteDirection, LocalDirection Direction
}

// Audio returns the preferred audio codec (the first one).
func (n *Negotiated) Audio() Codec {
	for _, c := range n.Codecs {
		if c.IsAudio() {
			return c
		}
	}
	return Codec{}
}

// TelephoneEvent returns the telephone-event format, if negotiated.
func (n *Negotiated) TelephoneEvent() (Codec, bool) {
	for _, c := range n.Codecs {
		if c.IsTelephoneEvent() {
			return c, true
		}
	}
	return Codec{}, false
}

// Options tune Negotiate. The zero value accepts PCMU, PCMA and
// telephone-event and would like to send and receive.
type Options struct {
	// Direction is what we would like for the stream; the answer direction
	// is derived from it and the offer (AnswerDirection).
	Direction Direction
	// Allow, when not nil, restricts the audio codecs accepted to these
	// names (case-insensitive): a B2BUA passes the codecs the other leg
	// accepted so both legs share one codec and nothing is transcoded.
	Allow []string
}

func (o Options) allows(c Codec) bool {
	if !c.IsAudio() {
		return false
	}
	if o.Allow == nil {
		return true
	}
	return slices.ContainsFunc(o.Allow, func(n string) bool { return strings.EqualFold(n, c.Name) })
}

// Negotiate answers offer: it picks the first audio RTP/AVP stream with a
// codec we support and keeps the offerer's preference order and payload
// numbers. Every other m= line is to be rejected (see Answer). It fails with
// ErrNotAcceptable when no stream is usable.
func Negotiate(offer *Session, opt Options) (*Negotiated, error) {
	why := "no audio stream"
	for i := range offer.Media {
		m := &offer.Media[i]
		if m.Kind != "audio" {
			continue
		}
		if reason := unusable(m); reason != "" {
			why = reason
			continue
		}
		var codecs []Codec
		for _, c := range m.Codecs {
			if opt.allows(c) {
				codecs = append(codecs, Codec{PT: c.PT, Name: c.Name, ClockRate: c.ClockRate, Channels: c.Channels})
			}
		}
		if len(codecs) == 0 {
			why = "no common audio codec in " + formatList(m.Codecs)
			continue
		}
		for _, c := range m.Codecs {
			if c.IsTelephoneEvent() {
				if ev := answerEvents(c.Fmtp); ev != "" {
					codecs = append(codecs, Codec{PT: c.PT, Name: c.Name, ClockRate: c.ClockRate, Fmtp: ev})
					break
				}
			}
		}
		ptime := m.Ptime
		if ptime == 0 {
			ptime = DefaultPtime
		}
		return &Negotiated{
			Index:           i,
			Codecs:          codecs,
			RecvCodecs:      slices.Clone(codecs),
			Ptime:           ptime,
			Remote:          m.RTP(),
			RemoteRTCP:      m.RTCP,
			RemoteDirection: m.Direction,
			LocalDirection:  AnswerDirection(m.Direction, opt.Direction),
		}, nil
	}
	return nil, notAcceptable(why)
}

// unusable says why an audio m= line cannot carry our stream, or "".
func unusable(m *Media) string {
	switch {
	case m.Port == 0:
		return "audio stream disabled (port 0)"
	case m.Proto != "RTP/AVP" && m.Proto != "RTP/AVPF":
		return "audio transport " + m.Proto + " not supported"
	case m.PortCount != 1:
		return "port ranges not supported"
	case !m.Addr.IsValid():
		return "no usable connection address"
	}
	return ""
}

func formatList(cs []Codec) string {
	if len(cs) == 0 {
		return "[]"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%d %s/%d", c.PT, c.Name, c.ClockRate)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// NegotiateAnswer reads the answer to an offer we built with Offer from
// offered (our codecs, our numbers) and local (our direction). The answer
// must keep our single m= line, accept it with a subset of our formats and
// a direction compatible with ours.
func NegotiateAnswer(offered []Codec, local Direction, answer *Session) (*Negotiated, error) {
	if len(answer.Media) != 1 {
		return nil, notAcceptable(fmt.Sprintf("answer has %d media lines, offer had 1", len(answer.Media)))
	}
	m := &answer.Media[0]
	if m.Kind != "audio" {
		return nil, notAcceptable("answer changed the media type to " + m.Kind)
	}
	if reason := unusable(m); reason != "" {
		return nil, notAcceptable(reason)
	}
	n := &Negotiated{
		Remote:          m.RTP(),
		RemoteRTCP:      m.RTCP,
		RemoteDirection: m.Direction,
		LocalDirection:  local,
		Ptime:           m.Ptime,
	}
	if n.Ptime == 0 {
		n.Ptime = DefaultPtime
	}
	// An answer may not send what we did not offer to receive, nor ask for
	// what we did not offer to send (RFC 3264 §6.1).
	if (m.Direction.Sends() && !local.Receives()) || (m.Direction.Receives() && !local.Sends()) {
		return nil, notAcceptable(fmt.Sprintf("answer direction %s incompatible with offered %s", m.Direction, local))
	}
	haveAudio := false
	for _, c := range m.Codecs {
		if !c.IsAudio() && !c.IsTelephoneEvent() {
			continue
		}
		i := slices.IndexFunc(offered, func(o Codec) bool { return o.Is(c.Name, c.ClockRate) })
		if i < 0 || slices.ContainsFunc(n.Codecs, func(o Codec) bool { return o.Is(c.Name, c.ClockRate) }) {
			continue
		}
		send := Codec{PT: c.PT, Name: offered[i].Name, ClockRate: c.ClockRate, Channels: c.Channels}
		if c.IsTelephoneEvent() {
			if send.Fmtp = answerEvents(c.Fmtp); send.Fmtp == "" {
				continue
			}
		}
		recv := offered[i]
		n.Codecs = append(n.Codecs, send)
		n.RecvCodecs = append(n.RecvCodecs, recv)
		haveAudio = haveAudio || c.IsAudio()
	}
	if !haveAudio {
		return nil, notAcceptable("answer accepted none of the offered audio codecs: " + formatList(m.Codecs))
	}
	return n, nil
}

// answerEvents intersects an offered telephone-event fmtp with the events we
// relay (0-16) and formats the result for our answer; "" if nothing is left.
// An absent fmtp means 0-15 (RFC 4733 §2.4.1).
func answerEvents(fmtp string) string {
	var set [maxEvent + 1]bool
	if strings.TrimSpace(fmtp) == "" {
		fmtp = "0-15"
	}
	for item := range strings.SplitSeq(fmtp, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(item), "-")
		a, err := strconv.ParseUint(lo, 10, 8)
		if err != nil {
			return ""
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 8); err != nil || b < a {
				return ""
			}
		}
		for e := a; e <= b && e <= maxEvent; e++ {
			set[e] = true
		}
	}
	var parts []string
	for e := 0; e <= maxEvent; e++ {
		if !set[e] {
			continue
		}
		end := e
		for end < maxEvent && set[end+1] {
			end++
		}
		if end == e {
			parts = append(parts, strconv.Itoa(e))
		} else {
			parts = append(parts, strconv.Itoa(e)+"-"+strconv.Itoa(end))
		}
		e = end
	}
	return strings.Join(parts, ",")
}

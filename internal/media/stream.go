package media

import "time"

// clockRate is the RTP clock of every format we relay: PCMU, PCMA and
// telephone-event are all negotiated at 8 kHz (internal/sdp refuses others).
const clockRate = 8000

// nsPerTick is one RTP timestamp unit at clockRate.
const nsPerTick = int64(time.Second) / clockRate

// outStream is the stream we send to one peer. We send with our own SSRC and
// carry the source's sequence numbers and timestamps shifted by offsets; when
// the source changes (a new SSRC: the other leg was re-pointed, its phone
// restarted its stream, or the call moved to this node) the offsets are
// rebased so that the peer sees sequence numbers go on by one and timestamps
// advance with wall-clock time, as after a silence, instead of a jump.
type outStream struct {
	ssrc    uint32
	started bool   // something was sent (or restored): offsets must continue from last*
	mapped  bool   // inSSRC is the source the offsets belong to
	inSSRC  uint32 // the current source's SSRC
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  int64 // clock time (UnixNano) of the packet that set lastSeq
}

// next returns the sequence number and timestamp to send for in.
func (o *outStream) next(in rtpInfo, now int64) (uint16, uint32) {
	if !o.mapped || in.ssrc != o.inSSRC {
		o.rebase(in, now)
	}
	seq, ts := in.seq+o.seqOff, in.ts+o.tsOff
	// Late (reordered) packets keep their shifted numbers but do not move
	// the high-water mark used for the next rebase.
	if !o.started || int16(seq-o.lastSeq) > 0 {
		o.lastSeq, o.lastTS, o.lastAt, o.started = seq, ts, now, true
	}
	return seq, ts
}

func (o *outStream) rebase(in rtpInfo, now int64) {
	if o.started {
		ticks := int64(1)
		if elapsed := now - o.lastAt; elapsed > 0 {
			// Capped so a clock jump between nodes cannot wrap the timestamp.
			ticks = max(1, min(elapsed, int64(time.Hour))/nsPerTick)
		}
		o.seqOff = o.lastSeq + 1 - in.seq
		o.tsOff = o.lastTS + uint32(ticks) - in.ts
	} else {
		// The very first source passes through unchanged, which keeps
		// captures on both sides easy to correlate.
		o.seqOff, o.tsOff = 0, 0
	}
	o.inSSRC, o.mapped = in.ssrc, true
}

// rxStats follows the stream one peer sends us (RFC 3550 appendix A.1, A.8).
type rxStats struct {
	init        bool
	ssrc        uint32
	maxSeq      uint16
	cycles      uint32
	baseSeq     uint32
	lastTS      uint32
	received    uint64
	lostBefore  int64 // lost in earlier sources of this leg
	haveTransit bool
	transit     int32
	jitter      uint32 // in timestamp units, scaled by 16 (A.8)
}

func (s *rxStats) update(in rtpInfo, now int64, audio bool) {
	if !s.init || in.ssrc != s.ssrc {
		s.lostBefore += s.lostNow()
		s.init, s.ssrc, s.maxSeq, s.cycles, s.baseSeq, s.received = true, in.ssrc, in.seq, 0, uint32(in.seq), 0
		s.haveTransit = false
		s.lastTS = in.ts
	} else if d := in.seq - s.maxSeq; d != 0 && d < 0x8000 {
		if in.seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = in.seq
		s.lastTS = in.ts
	}
	s.received++
	if !audio {
		// telephone-event packets repeat the event's start timestamp, so
		// they would read as jitter.
		return
	}
	transit := int32(uint32(now/nsPerTick) - in.ts)
	if s.haveTransit {
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		s.jitter += uint32(d) - (s.jitter+8)>>4
	}
	s.transit, s.haveTransit = transit, true
}

func (s *rxStats) lostNow() int64 {
	if !s.init {
		return 0
	}
	expected := int64(s.cycles) + int64(s.maxSeq) - int64(s.baseSeq) + 1
	return max(0, expected-int64(s.received))
}

func (s *rxStats) lost() int64 { return s.lostBefore + s.lostNow() }

func (s *rxStats) jitterDuration() time.Duration {
	return time.Duration(int64(s.jitter>>4) * nsPerTick)
}

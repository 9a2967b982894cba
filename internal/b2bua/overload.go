package b2bua

import (
	"strconv"
	"time"

	"github.com/strowger/strowger/internal/cdr"
)

// Overload control. The subscription goroutine only parses a message and
// posts it to its call's goroutine, so its queue stays short even when
// the node is saturated; the work that piles up is the calls in setup —
// each one routing, writing its KV checkpoint and forking — which run
// concurrently without bound. Once set-up latency passes T1 the phones
// retransmit, every retransmission is more work, and the node collapses.
// So admission is decided by the number of calls in setup (Little's law:
// at a healthy set-up rate it stays small; it only grows when the node
// cannot keep up) and by the free RTP port pairs, and a refused INVITE is
// answered 503 with Retry-After at once. Requests of existing calls
// (ACK, BYE, re-INVITE, CANCEL) never pass through admission.

// defaultMaxSetupCalls is Config.MaxSetupCalls's default: a node that sets
// up calls in tens of milliseconds has a few dozen in setup at its highest
// clean rate, so a few hundred means it has fallen behind.
const defaultMaxSetupCalls = 300

// overloaded says why a new call must be refused now, or "".
func (s *Server) overloaded() string {
	if lim := s.cfg.MaxSetupCalls; lim > 0 && s.setup.Load() >= int64(lim) {
		return "calls in setup"
	}
	if lim := s.cfg.MinFreePortPairs; lim > 0 && s.d.Ports.Capacity()-s.d.Ports.InUse() < lim {
		return "rtp ports"
	}
	if lim := s.cfg.MaxCalls; lim > 0 && s.live.Load() >= int64(lim) {
		return "max calls"
	}
	if s.overload.CompareAndSwap(true, false) {
		s.log.Info("overload ended, taking new calls", "refused", s.refused.Load())
	}
	return ""
}

// SetupCalls is the number of calls in setup.
func (s *Server) SetupCalls() int { return int(s.setup.Load()) }

// RefusedCalls is the number of new calls refused for overload since Start.
func (s *Server) RefusedCalls() int64 { return s.refused.Load() }

// refuseOverload answers a new INVITE 503 with Retry-After. The leg gets
// its CDR in finish, as every other refused caller does.
func (c *call) refuseOverload(why string) {
	s := c.s
	n := s.refused.Add(1)
	if s.overload.CompareAndSwap(false, true) {
		s.log.Warn("overloaded, refusing new calls", "reason", why, "setup", s.setup.Load(),
			"ports_in_use", s.d.Ports.InUse(), "refused", n)
	}
	c.callerLeg()
	c.log.Debug("call refused for overload", "reason", why)
	c.rejectEarly(503, "", "Retry-After: "+strconv.Itoa(retryAfterSeconds(s.cfg.OverloadRetryAfter)))
	// The CDR says why: the call was not routed, and an edge may well
	// have placed it on another node.
	c.a.hangupCause = overloadCause
}

// overloadCause is the hangup cause of a caller refused for overload
// (Q.850 42, which FreeSWITCH and so Kazoo answer with 503).
const overloadCause = "SWITCH_CONGESTION"

// cdrID is the record id of leg l's CDR. A caller answered 503 before its
// call key was written was refused before routing (overload, no RTP
// ports): the edge may have placed the same Call-ID on another node, whose
// CDR takes the Call-ID's id, so the refused attempt's record is named for
// this node too and neither one hides the other (the CDR stream drops a
// repeated id).
func (c *call) cdrID(l *leg) string {
	if l == c.a && !c.keyA && l.hangupCode == "sip:503" {
		return cdr.RecordID(l.callID + "|refused|" + c.s.cfg.NodeID)
	}
	return cdr.RecordID(l.callID)
}

// leaveSetup takes the call out of the setup count once.
func (c *call) leaveSetup() {
	if c.inSetup {
		c.inSetup = false
		c.s.setup.Add(-1)
	}
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

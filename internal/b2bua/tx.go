package b2bua

import (
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/clock"
)

// The transaction layer is per leg and runs on the call's goroutine: timers
// post back into the call loop, so no transaction state is shared between
// goroutines. Retransmissions only happen on UDP flows (RFC 3261 §17: a
// reliable transport carries the message or fails).

// clientTx is a request the B2BUA sent and awaits a final answer to:
// timers A/B for INVITE (§17.1.1.2), E/F for the others (§17.1.2.2).
type clientTx struct {
	l        *leg
	method   string
	branch   string
	cseq     uint32
	msg      []byte
	interval time.Duration
	retrans  clock.Timer // A or E
	timeout  clock.Timer // B or F
	gotResp  bool        // a provisional arrived (INVITE: stop A)
	done     bool
	// onResponse gets every response; final ones end the transaction.
	onResponse func(r *sip.Response)
	// onTimeout runs when B/F fires without a final response.
	onTimeout func()
}

// send transmits a new client transaction and arms its timers.
func (l *leg) send(tx *clientTx) {
	c := l.c
	tx.l = l
	l.ctx[tx.branch] = tx
	c.sendRequest(l, tx.msg)
	tx.interval = c.s.cfg.T1
	if l.udp() {
		tx.retrans = c.timer(tx.interval, func(c *call) { tx.retransmit() })
	}
	tx.timeout = c.timer(64*c.s.cfg.T1, func(c *call) {
		if tx.done {
			return
		}
		tx.finish()
		if tx.onTimeout != nil {
			tx.onTimeout()
		}
	})
}

func (tx *clientTx) retransmit() {
	if tx.done || (tx.method == "INVITE" && tx.gotResp) {
		return
	}
	c := tx.l.c
	c.sendRequest(tx.l, tx.msg)
	tx.interval *= 2
	if tx.method != "INVITE" && (tx.interval > t2 || tx.gotResp) {
		tx.interval = t2
	}
	tx.retrans = c.timer(tx.interval, func(c *call) { tx.retransmit() })
}

func (tx *clientTx) finish() {
	tx.done = true
	if tx.retrans != nil {
		tx.retrans.Stop()
	}
	if tx.timeout != nil {
		tx.timeout.Stop()
	}
	delete(tx.l.ctx, tx.branch)
}

// onResp feeds a response to the transaction.
func (tx *clientTx) onResp(r *sip.Response) {
	if tx.done {
		return
	}
	tx.gotResp = true
	if r.StatusCode >= 200 {
		tx.finish()
	} else if tx.method == "INVITE" && tx.timeout != nil {
		// Timer B guards only until the first response: a ringing callee
		// is bounded by the ring timeout, not by 64·T1.
		tx.timeout.Stop()
	}
	if tx.onResponse != nil {
		tx.onResponse(r)
	}
}

// finalRetrans retransmits a final response to an INVITE until the ACK
// (timers G and H, §17.2.1 and, for 2xx, the UAS core §13.3.1.4).
type finalRetrans struct {
	msg      []byte
	cseq     uint32
	interval time.Duration
	timer    clock.Timer
	deadline clock.Timer
	stopped  bool
}

func (f *finalRetrans) stop() {
	if f == nil || f.stopped {
		return
	}
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
	if f.deadline != nil {
		f.deadline.Stop()
	}
}

// retransmitFinal starts retransmitting msg (the final answer to the
// INVITE with CSeq cseq received from l) until stopAck; onGiveUp runs
// after 64*T1 without ACK.
func (l *leg) retransmitFinal(msg []byte, cseq uint32, onGiveUp func()) {
	c := l.c
	l.final.stop()
	f := &finalRetrans{msg: msg, cseq: cseq, interval: c.s.cfg.T1}
	l.final = f
	if l.udp() {
		var tick func(c *call)
		tick = func(c *call) {
			if f.stopped {
				return
			}
			l.sendResp(f.msg)
			f.interval *= 2
			if f.interval > t2 {
				f.interval = t2
			}
			f.timer = c.timer(f.interval, tick)
		}
		f.timer = c.timer(f.interval, tick)
	}
	f.deadline = c.timer(64*c.s.cfg.T1, func(c *call) {
		if f.stopped {
			return
		}
		f.stop()
		if onGiveUp != nil {
			onGiveUp()
		}
	})
}

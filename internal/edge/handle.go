package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// handlerTimeout bounds the work on one request (directory, KV, NATS).
const handlerTimeout = 5 * time.Second

// handle processes one message from outside.
func (e *Edge) handle(data []byte, f flow) {
	if !e.guard.admit(f.remote.Addr()) {
		return
	}
	m, ok := splitRaw(data)
	if !ok {
		return
	}
	if m.response {
		e.phoneResponse(data, &m, f)
		return
	}
	if ua, _ := m.get("user-agent"); e.guard.scanner(ua) {
		return
	}
	key := txKey(&m, f)
	st, cached := e.tx.begin(key)
	switch st {
	case txPending:
		return
	case txDone:
		if len(cached) > 0 {
			e.send(f, cached)
		}
		return
	}
	// ACK to a final non-2xx answer the edge gave itself: the INVITE's
	// transaction absorbs it (RFC 3261 §17.2.1).
	if m.method == "ACK" {
		if st2, _ := e.tx.peek(inviteKeyForAck(&m, f)); st2 == txDone {
			e.tx.forget(key)
			return
		}
	}
	v := validate(&m, data, f.transport == "tcp")
	if v.drop {
		e.tx.forget(key)
		return
	}
	if v.resp != nil {
		if m.method == "ACK" {
			e.tx.forget(key)
			return
		}
		e.answer(key, &m, f, *v.resp)
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, handlerTimeout)
	defer cancel()
	req := v.req
	toTag := tagOf(req.To().Value())
	switch {
	case m.method == "REGISTER":
		e.answer(key, &m, f, e.register(ctx, req, &m, f))
	case m.method == "OPTIONS" && toTag == "":
		// Out-of-dialog OPTIONS are keep-alives and monitoring probes: the
		// edge answers for the platform.
		e.answer(key, &m, f, response{code: 200, reason: "OK",
			extra: []string{"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE, MESSAGE",
				"Accept: application/sdp", "Supported: path"}})
	default:
		resp, relayed := e.route(ctx, req, &m, key, f)
		if relayed {
			e.tx.forget(key)
			return
		}
		if resp == nil || m.method == "ACK" {
			e.tx.forget(key)
			return
		}
		e.answer(key, &m, f, *resp)
		if resp.after != nil {
			resp.after()
		}
	}
}

// answer sends the edge's own response and remembers it for retransmissions.
func (e *Edge) answer(key string, m *rawMsg, f flow, r response) {
	if r.code == 0 {
		e.silence(key)
		return
	}
	if r.toTag == "" {
		r.toTag = toTagFor(m)
	}
	b := r.build(m, f.ip(), int(f.remote.Port()))
	if f.transport == "tcp" {
		// Reliable transports do not retransmit; nothing to remember.
		e.tx.forget(key)
	} else if r.code == 401 || r.code == 407 {
		e.tx.finishFor(key, b, e.cfg.ChallengeLinger)
	} else {
		e.tx.finish(key, b)
	}
	e.send(f, b)
}

// silence ends a transaction without an answer (the source was just
// banned) and keeps absorbing its retransmissions.
func (e *Edge) silence(key string) { e.tx.finish(key, []byte{}) }

// txKey identifies the server transaction of a request: RFC 3261 §17.2.3
// (branch, sent-by, method with ACK folded into INVITE only for matching
// the INVITE), or the RFC 2543 fields when the branch lacks the magic cookie.
func txKey(m *rawMsg, f flow) string {
	via, _ := m.get("via")
	via = topVia(via)
	branch, _ := viaParam(via, "branch")
	sentBy := via
	if i := strings.IndexByte(via, ';'); i >= 0 {
		sentBy = via[:i]
	}
	method := m.method
	if strings.HasPrefix(branch, "z9hG4bK") && len(branch) > len("z9hG4bK") {
		return f.transport + "|" + f.remote.String() + "|" + branch + "|" + strings.TrimSpace(sentBy) + "|" + method
	}
	callID, _ := m.get("call-id")
	cseq, _ := m.get("cseq")
	from, _ := m.get("from")
	to, _ := m.get("to")
	return f.transport + "|" + f.remote.String() + "|2543|" + callID + "|" + cseq + "|" + tagOf(from) + "|" + tagOf(to) + "|" + via
}

// inviteKeyForAck is the key of the INVITE transaction an ACK belongs to.
func inviteKeyForAck(m *rawMsg, f flow) string {
	c := *m
	c.method = "INVITE"
	hs := make([]rawHeader, len(m.headers))
	copy(hs, m.headers)
	for i := range hs {
		if hs[i].name == "cseq" {
			hs[i].value = strings.Replace(hs[i].value, "ACK", "INVITE", 1)
		}
	}
	c.headers = hs
	return txKey(&c, f)
}

// peek reads a transaction's state without claiming it.
func (c *txCache) peek(key string) (txState, []byte) {
	h, s := c.hash(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[h]
	if !ok || c.clk.Now().UnixNano() >= e.expires {
		return txNew, nil
	}
	if e.resp == nil {
		return txPending, nil
	}
	return txDone, e.resp
}

// toTagFor derives a stable To tag from the request, so every copy of a
// stateless answer carries the same one.
func toTagFor(m *rawMsg) string {
	callID, _ := m.get("call-id")
	from, _ := m.get("from")
	via, _ := m.get("via")
	sum := sha256.Sum256([]byte(callID + "|" + tagOf(from) + "|" + topVia(via)))
	return hex.EncodeToString(sum[:6])
}

// isUs reports whether u names this edge (its advertised or bound address).
func (e *Edge) isUs(u sip.Uri) bool {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	if u.Host == e.advHost && port == e.advPort {
		return true
	}
	return u.Host == e.addr.Addr().String() && port == int(e.addr.Port())
}

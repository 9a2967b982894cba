package edge

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/sipauth"
	"github.com/strowger/strowger/internal/store"
)

// authOutcome is the result of digest authentication of one request.
type authOutcome struct {
	cred store.SIPCredential
	// resp is set when the request must be answered instead (challenge,
	// refusal); silent means say nothing (source banned just now).
	resp   *response
	silent bool
}

// authenticate checks digest credentials for realm and the user the
// request speaks for (To user of a REGISTER, From user of an INVITE).
//
// Unknown realm, unknown user, wrong password and auth user ≠ target user
// all end in the same 403, after the same work: the digest is always
// computed, against a per-process dummy password when there is no user.
func (e *Edge) authenticate(ctx context.Context, m *rawMsg, f flow, proxy bool, realm, user string) authOutcome {
	hdr, code, reason, chHdr := "authorization", 401, "Unauthorized", "WWW-Authenticate"
	if proxy {
		hdr, code, reason, chHdr = "proxy-authorization", 407, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	challenge := func(stale bool) authOutcome {
		r := response{code: code, reason: reason}
		for _, alg := range e.cfg.Algorithms {
			r.extra = append(r.extra, chHdr+": "+e.auth.Challenge(realm, alg, stale))
		}
		return authOutcome{resp: &r}
	}
	var c sipauth.Credentials
	found := false
	for _, v := range m.all(hdr) {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "digest") {
			continue
		}
		parsed, err := sipauth.ParseCredentials(v)
		if err != nil {
			return authOutcome{resp: &response{code: 400, reason: "Bad Credentials"}}
		}
		if strings.EqualFold(parsed.Realm, realm) {
			c, found = parsed, true
			break
		}
	}
	if !found {
		return challenge(false)
	}
	switch err := e.auth.CheckNonce(c, realm); {
	case errors.Is(err, sipauth.ErrStale):
		return challenge(true)
	case err != nil:
		return challenge(false)
	}
	cred, known, cached, err := e.creds.lookup(ctx, realm, c.Username)
	if err != nil {
		e.log.Error("directory lookup failed", "realm", realm, "err", err)
		return authOutcome{resp: &response{code: 500, reason: "Server Internal Error", extra: []string{"Retry-After: 5"}}}
	}
	password := e.dummyPassword
	if known {
		password = cred.Password
	}
	verr := e.auth.Verify(c, string(m.method), realm, password)
	failed := !known || c.Username != user || errors.Is(verr, sipauth.ErrMismatch) || errors.Is(verr, sipauth.ErrMalformed)
	if failed {
		if cached {
			if err := e.creds.reload(ctx, realm, c.Username); err != nil {
				e.log.Warn("directory lookup failed", "realm", realm, "err", err)
			}
		}
		account := ""
		if known {
			account = cred.AccountID
		}
		if e.guard.fail(f.remote.Addr(), account) {
			e.publishBan(ctx, f.remote.Addr(), "authentication failures")
			return authOutcome{silent: true}
		}
		return authOutcome{resp: &response{code: 403, reason: "Forbidden"}}
	}
	switch {
	case errors.Is(verr, sipauth.ErrStale):
		return challenge(true)
	case verr != nil:
		// Replayed nonce-count or an algorithm we do not offer: ask again.
		return challenge(false)
	}
	return authOutcome{cred: cred}
}

// register handles a REGISTER (RFC 3261 §10.3).
func (e *Edge) register(ctx context.Context, req *sip.Request, m *rawMsg, f flow) response {
	realm := strings.ToLower(req.Recipient.Host)
	to := req.To()
	user := to.Address.User
	ao := e.authenticate(ctx, m, f, false, realm, user)
	if ao.silent {
		return response{code: 0}
	}
	if ao.resp != nil {
		return *ao.resp
	}
	cred := ao.cred
	if s := strings.ToLower(to.Address.Scheme); s != "sip" && s != "sips" {
		return response{code: 404, reason: "Not Found"}
	}
	expiresHdr := -1
	if v, ok := m.get("expires"); ok {
		n, ok := parseDelta(v)
		if !ok {
			return response{code: 400, reason: "Bad Expires"}
		}
		expiresHdr = n
	}
	var contacts []*sip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		if ch, ok := h.(*sip.ContactHeader); ok {
			contacts = append(contacts, ch)
		}
	}
	current, err := e.loc.Lookup(ctx, cred.AccountID, user)
	if err != nil {
		e.log.Error("location lookup failed", "account", cred.AccountID, "err", err)
		return response{code: 500, reason: "Server Internal Error", extra: []string{"Retry-After: 5"}}
	}
	// Pointers: a Binding is large and copying it showed in profiles.
	byID := make(map[string]*location.Binding, len(current))
	for i := range current {
		byID[current[i].BindingID] = &current[i]
	}
	callID := req.CallID().Value()
	cseq := req.CSeq().SeqNo
	now := e.clk.Now()

	// Contact: * removes every binding; only with Expires: 0 and alone.
	for _, ch := range contacts {
		if ch.Address.Wildcard {
			if len(contacts) != 1 || expiresHdr != 0 {
				return response{code: 400, reason: "Invalid Wildcard"}
			}
			for _, b := range current {
				if err := e.loc.Remove(ctx, b.AccountID, b.Username, b.BindingID); err != nil {
					return e.storeFailed(err)
				}
				e.regEvent("unregister", b)
			}
			return e.regOK(m, nil)
		}
	}
	type change struct {
		uri, raw string
		ch       *sip.ContactHeader
		exp      int
	}
	changes := make([]change, 0, len(contacts))
	for _, ch := range contacts {
		exp := e.cfg.DefaultExpires
		if expiresHdr >= 0 {
			exp = expiresHdr
		}
		if v, ok := ch.Params.Get("expires"); ok {
			n, ok := parseDelta(v)
			if !ok {
				return response{code: 400, reason: "Bad Contact Expires"}
			}
			exp = n
		}
		if exp > 0 && exp < e.cfg.MinExpires {
			return response{code: 423, reason: "Interval Too Brief",
				extra: []string{"Min-Expires: " + strconv.Itoa(e.cfg.MinExpires)}}
		}
		if exp > e.cfg.MaxExpires {
			exp = e.cfg.MaxExpires
		}
		uri := ch.Address.String()
		changes = append(changes, change{uri: uri, raw: ch.Value(), ch: ch, exp: exp})
	}
	var paths []string
	for _, p := range m.all("path") {
		paths = append(paths, p)
	}
	ua, _ := m.get("user-agent")
	from := req.From()
	for _, c := range changes {
		id := location.BindingID(c.uri)
		old, exists := byID[id]
		if exists && old.CallID == callID && cseq <= old.CSeq {
			// An older request arriving late must not undo a newer one.
			continue
		}
		if c.exp == 0 {
			if exists {
				if err := e.loc.Remove(ctx, cred.AccountID, user, id); err != nil {
					return e.storeFailed(err)
				}
				delete(byID, id)
				e.regEvent("unregister", *old)
			}
			continue
		}
		port := c.ch.Address.Port
		if port == 0 {
			port = 5060
		}
		b := location.Binding{
			AccountID: cred.AccountID, AccountRealm: cred.Realm, Realm: realm, Username: user,
			AuthorizingID: cred.DeviceID, AuthorizingType: "device", OwnerID: cred.OwnerID,
			CallID: callID, CSeq: cseq, Contact: c.uri, OriginalContact: c.raw,
			ContactIP: c.ch.Address.Host, ContactPort: port, Expires: c.exp,
			ExpiresAt: now.Unix() + int64(c.exp), UserAgent: ua, EventTimestamp: now.Unix(),
			FromUser: from.Address.User, FromHost: from.Address.Host, ToUser: user, ToHost: to.Address.Host,
			SourceTransport: f.transport, SourceIP: f.ip(), SourcePort: int(f.remote.Port()),
			Path: paths, ProxyIP: e.advHost, ProxyPort: e.advPort, EdgeID: e.cfg.NodeID, BindingID: id,
		}
		if exists {
			b.Revision = old.Revision
		}
		val, err := location.Encode(b)
		if err != nil {
			return e.storeFailed(err)
		}
		rev, err := e.loc.SaveEncoded(ctx, b, val)
		if errors.Is(err, location.ErrConflict) {
			rev, err = e.loc.Put(ctx, b)
		}
		if err != nil {
			return e.storeFailed(err)
		}
		b.Revision = rev
		byID[id] = &b
		if exists {
			e.regEventEncoded("refresh", b, val)
		} else {
			e.regEventEncoded("register", b, val)
		}
	}
	live := make([]*location.Binding, 0, len(byID))
	for _, b := range byID {
		if b.Live(now) {
			live = append(live, b)
		}
	}
	// Newest first; beyond MaxContacts the oldest bindings go.
	slices.SortFunc(live, func(a, b *location.Binding) int {
		if a.EventTimestamp != b.EventTimestamp {
			return int(b.EventTimestamp - a.EventTimestamp)
		}
		return strings.Compare(a.BindingID, b.BindingID)
	})
	for len(live) > e.cfg.MaxContacts {
		old := live[len(live)-1]
		if err := e.loc.Remove(ctx, old.AccountID, old.Username, old.BindingID); err != nil {
			return e.storeFailed(err)
		}
		e.regEvent("unregister", *old)
		live = live[:len(live)-1]
	}
	return e.regOK(m, live)
}

func (e *Edge) storeFailed(err error) response {
	e.log.Error("location write failed", "err", err)
	return response{code: 500, reason: "Server Internal Error", extra: []string{"Retry-After: 5"}}
}

// regOK lists the AOR's current contacts with their remaining time.
func (e *Edge) regOK(m *rawMsg, live []*location.Binding) response {
	now := e.clk.Now()
	r := response{code: 200, reason: "OK"}
	for _, b := range live {
		r.extra = append(r.extra, "Contact: <"+b.Contact+">;expires="+strconv.Itoa(b.ExpiresIn(now)))
	}
	if sup, _ := m.get("supported"); strings.Contains(strings.ToLower(sup), "path") {
		for _, p := range m.all("path") {
			r.extra = append(r.extra, "Path: "+p)
		}
	}
	return r
}

// RegistrationEvent is published on bus.RegistrationEvent after every
// binding change.
type RegistrationEvent struct {
	Event   string           `json:"event"` // register, refresh, unregister
	Binding location.Binding `json:"binding"`
}

func (e *Edge) regEvent(event string, b location.Binding) {
	val, err := location.Encode(b)
	if err != nil {
		return
	}
	e.regEventEncoded(event, b, val)
}

// regEventEncoded publishes a RegistrationEvent around val, b's encoding
// (spliced, not encoded twice).
func (e *Edge) regEventEncoded(event string, b location.Binding, val []byte) {
	data := make([]byte, 0, len(val)+40)
	data = append(data, `{"event":"`...)
	data = append(data, event...) // register, refresh, unregister: nothing to escape
	data = append(data, `","binding":`...)
	data = append(data, val...)
	data = append(data, '}')
	if err := e.nc.Publish(bus.RegistrationEvent(b.AccountID, b.Username), data); err != nil {
		e.log.Warn("publishing registration event failed", "err", err)
	}
}

// parseDelta parses delta-seconds; absurdly large values are capped rather
// than rejected (RFC 3261 §20.19: treat as "a long time").
func parseDelta(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return 1<<31 - 1, true
	}
	return int(n), true
}

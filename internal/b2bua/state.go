package b2bua

import (
	"context"
	"time"

	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sdp"
	"github.com/strowger/strowger/internal/store"
)

// CheckpointVersion is the version of the call checkpoint layout; readers
// accept any version and ignore unknown fields.
const CheckpointVersion = 1

// Record is the value of a leg's key in store.BucketCalls. Its top level
// carries the ownership every edge reads (owner_node, epoch), the leg as a
// channel (on a callee's key as it was when the leg was created; the live
// one is in the channel index, which GET /channels lists) and, on the
// caller leg's key, the whole call's checkpoint.
type Record struct {
	OwnerNode  string      `json:"owner_node"`
	Epoch      uint64      `json:"epoch"`
	V          int         `json:"v"`
	AccountID  string      `json:"account_id"`
	Channel    Channel     `json:"channel"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// Channel is a leg in Kazoo's channel shape.
type Channel struct {
	UUID           string `json:"uuid"`
	CallID         string `json:"call_id"`
	Direction      string `json:"direction"` // inbound (caller) or outbound (callee)
	Answered       bool   `json:"answered"`
	Destination    string `json:"destination"`
	Request        string `json:"request,omitempty"`
	From           string `json:"from,omitempty"`
	To             string `json:"to,omitempty"`
	CallerIDName   string `json:"caller_id_name,omitempty"`
	CallerIDNumber string `json:"caller_id_number,omitempty"`
	CalleeIDName   string `json:"callee_id_name,omitempty"`
	CalleeIDNumber string `json:"callee_id_number,omitempty"`
	AuthorizingID  string `json:"authorizing_id,omitempty"`
	AuthorizingTyp string `json:"authorizing_type,omitempty"`
	OwnerID        string `json:"owner_id,omitempty"`
	PresenceID     string `json:"presence_id,omitempty"`
	OtherLeg       string `json:"other_leg,omitempty"`
	InteractionID  string `json:"interaction_id"`
	MediaServer    string `json:"media_server"`
	Timestamp      int64  `json:"timestamp"` // Gregorian seconds of creation
	AnsweredAt     int64  `json:"answered_timestamp,omitempty"`
	ElapsedS       int64  `json:"elapsed_s"`
}

// Checkpoint is what another node needs to take the call over.
type Checkpoint struct {
	CallerCallID string        `json:"caller_call_id"`
	State        string        `json:"state"` // ringing, answered
	Dialed       string        `json:"dialed"`
	Position     []string      `json:"position,omitempty"`
	Caller       DialogState   `json:"caller"`
	Callees      []DialogState `json:"callees,omitempty"`
	Bridged      string        `json:"bridged,omitempty"` // Call-ID of the answered callee
	OriginA      sdp.Origin    `json:"origin_a"`
	OriginB      sdp.Origin    `json:"origin_b"`
	Media        *media.State  `json:"media,omitempty"`
	// LateOffer: the caller's INVITE had no SDP; our 200 carried the offer.
	LateOffer bool `json:"late_offer,omitempty"`
	// PendingOffer is an offer of ours in a 2xx whose answer the ACK has
	// not brought yet (a late-offer caller's 200, an offerless re-INVITE).
	PendingOffer *PendingOffer `json:"pending_offer,omitempty"`
	Created      time.Time     `json:"created"`
	Answered     time.Time     `json:"answered,omitzero"`
}

// DialogState is one leg's dialog.
type DialogState struct {
	CallID    string   `json:"call_id"`
	Inbound   bool     `json:"inbound"`
	LocalTag  string   `json:"local_tag"`
	RemoteTag string   `json:"remote_tag,omitempty"`
	LocalURI  string   `json:"local_uri"`
	RemoteURI string   `json:"remote_uri"`
	LocalSeq  uint32   `json:"local_cseq"`
	RemoteSeq uint32   `json:"remote_cseq"`
	Routes    []string `json:"route_set,omitempty"`
	Target    string   `json:"remote_target"`
	Contact   string   `json:"contact"`
	Edge      string   `json:"edge"`
	Flow      *sipbusFlow
	DeviceID  string `json:"device_id,omitempty"`
	Answered  bool   `json:"answered"`
	Ended     bool   `json:"ended,omitempty"`
}

func (l *leg) dialog() DialogState {
	return DialogState{CallID: l.callID, Inbound: l.inbound, LocalTag: l.localTag, RemoteTag: l.remoteTag,
		LocalURI: l.localURI, RemoteURI: l.remoteURI, LocalSeq: l.localSeq, RemoteSeq: l.remoteSeq,
		Routes: l.routes, Target: l.target, Contact: l.contact, Edge: l.edge, Flow: l.flow,
		DeviceID: l.deviceID, Answered: l.answered, Ended: l.ended}
}

func (c *call) channel(l *leg) Channel {
	now := c.s.clk.Now()
	ch := Channel{UUID: l.callID, CallID: l.callID, Direction: "outbound", Answered: l.answered,
		Destination: c.dialed, Request: l.request, From: l.fromAOR, To: l.toAOR,
		CallerIDName: l.callerName, CallerIDNumber: l.callerNumber,
		CalleeIDName: l.calleeName, CalleeIDNumber: l.calleeNumber,
		AuthorizingID: l.deviceID, AuthorizingTyp: "device", OwnerID: l.ownerID,
		InteractionID: c.interact, MediaServer: c.s.cfg.NodeID,
		Timestamp: store.GregorianSeconds(l.created), ElapsedS: int64(now.Sub(l.created) / time.Second),
		OtherLeg: c.id}
	if l.inbound {
		ch.Direction = "inbound"
		ch.AuthorizingID, ch.OwnerID = c.caller.DeviceID, c.caller.OwnerID
		ch.OtherLeg = ""
		if c.peer != nil {
			ch.OtherLeg = c.peer.callID
		}
	}
	if ch.AuthorizingID == "" {
		ch.AuthorizingTyp = ""
	}
	if l.answered {
		ch.AnsweredAt = store.GregorianSeconds(l.answeredAt)
	}
	if ch.OwnerID != "" && l.username != "" {
		ch.PresenceID = l.username
	}
	if l.inbound {
		ch.PresenceID = l.callerNumber
	}
	return ch
}

// checkpoint writes the caller leg's key with the whole call's state.
func (c *call) checkpoint() error {
	cp := &Checkpoint{CallerCallID: c.id, State: "ringing", Dialed: c.dialed, Position: c.position,
		Caller: c.a.dialog(), OriginA: c.originA, OriginB: c.originB, Created: c.created}
	if c.answered {
		cp.State, cp.Answered = "answered", c.answeredAt
	}
	for _, l := range c.order {
		if !l.ended {
			cp.Callees = append(cp.Callees, l.dialog())
		}
	}
	if c.peer != nil {
		cp.Bridged = c.peer.callID
	}
	cp.LateOffer, cp.PendingOffer = c.late, c.pending.state()
	if c.relay != nil {
		st := c.relay.State()
		cp.Media = &st
	}
	rec := Record{OwnerNode: c.s.cfg.NodeID, Epoch: 1, V: CheckpointVersion, AccountID: c.caller.AccountID,
		Channel: c.channel(c.a), Checkpoint: cp}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return c.s.putCall(ctx, c.id, rec)
}

// putLeg writes a callee leg's key when the leg is created: its ownership
// and its channel as then. It is not rewritten while the ownership stays
// (saveState): the leg's dialog state lives in the caller's checkpoint and
// its live channel in the channel index.
func (c *call) putLeg(l *leg) error {
	rec := Record{OwnerNode: c.s.cfg.NodeID, Epoch: 1, V: CheckpointVersion, AccountID: c.caller.AccountID,
		Channel: c.channel(l)}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return c.s.putCall(ctx, l.callID, rec)
}

// saveState checkpoints after a state change (answer, bridge, re-INVITE,
// callflow position). A failed write is logged: the call goes on, only a
// takeover would see older state.
func (c *call) saveState() {
	if !c.keyA || c.finished || c.a.ended {
		return
	}
	if err := c.checkpoint(); err != nil {
		c.log.Warn("checkpoint failed", "err", err)
	}
	if c.peer != nil && !c.peer.ended {
		// The callee's own key holds its ownership, which has not changed
		// since putLeg wrote it (its dialog is in the checkpoint above):
		// only its channel index entry follows the answer or bridge.
		rec := Record{OwnerNode: c.s.cfg.NodeID, Epoch: 1, V: CheckpointVersion, AccountID: c.caller.AccountID,
			Channel: c.channel(c.peer)}
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		if err := c.s.indexChannel(ctx, c.peer.callID, rec); err != nil {
			c.log.Warn("indexing channel failed", "leg", c.peer.callID, "err", err)
		}
	}
}

// publishLeg publishes a call event about one leg.
func (c *call) publishLeg(l *leg, name string) {
	if l == nil {
		return
	}
	ch := c.channel(l)
	ev := callEvent{
		CallDirection: ch.Direction, InteractionID: c.interact,
		AuthorizingID: ch.AuthorizingID, OwnerID: ch.OwnerID,
		CallerIDName: ch.CallerIDName, CallerIDNumber: ch.CallerIDNumber,
		CalleeIDName: ch.CalleeIDName, CalleeIDNumber: ch.CalleeIDNumber,
		OtherLegCallID: ch.OtherLeg, OwnerNode: c.s.cfg.NodeID, Answered: ch.Answered,
		CallerCallID: c.id,
	}
	if name == "CHANNEL_DESTROY" {
		ev.HangupCause, ev.HangupCode = &l.hangupCause, &l.hangupCode
	}
	c.s.event(c.caller.AccountID, name, l.callID, ev)
}

// callEvent is the body of a call event (bus.CallEvent). A struct, not a
// map: every call publishes several, and encoding a map sorts its keys.
type callEvent struct {
	EventName      string  `json:"event_name"`
	CallID         string  `json:"call_id"`
	AccountID      string  `json:"account_id"`
	MediaServer    string  `json:"media_server"`
	Timestamp      int64   `json:"timestamp"`
	CallDirection  string  `json:"call_direction"`
	InteractionID  string  `json:"interaction_id"`
	AuthorizingID  string  `json:"authorizing_id"`
	OwnerID        string  `json:"owner_id"`
	CallerIDName   string  `json:"caller_id_name"`
	CallerIDNumber string  `json:"caller_id_number"`
	CalleeIDName   string  `json:"callee_id_name"`
	CalleeIDNumber string  `json:"callee_id_number"`
	OtherLegCallID string  `json:"other_leg_call_id"`
	OwnerNode      string  `json:"owner_node"`
	Answered       bool    `json:"answered"`
	CallerCallID   string  `json:"caller_call_id"`
	HangupCause    *string `json:"hangup_cause,omitempty"` // CHANNEL_DESTROY only
	HangupCode     *string `json:"hangup_code,omitempty"`
}

// writeCDRs writes one record per leg.
func (c *call) writeCDRs(ctx context.Context) {
	otherA := ""
	if c.peer != nil {
		otherA = c.peer.callID
	}
	legs := append([]*leg{c.a}, c.order...)
	for _, l := range legs {
		if !l.ended {
			l.end("NORMAL_CLEARING", "sip:200")
		}
		rec := c.cdrFor(l)
		if l == c.a {
			rec.OtherLegCallID = otherA
		}
		if err := c.s.d.CDRs.Write(ctx, rec); err != nil {
			c.log.Error("writing CDR failed", "leg", l.callID, "err", err)
		}
	}
}

func (c *call) cdrFor(l *leg) cdr.Record {
	ch := c.channel(l)
	end := l.endedAt
	billing := int64(0)
	ringing := int64(end.Sub(l.created) / time.Second)
	if l.answered {
		billing = int64(end.Sub(l.answeredAt) / time.Second)
		ringing = int64(l.answeredAt.Sub(l.created) / time.Second)
	}
	ccv := map[string]string{"account_id": c.caller.AccountID}
	if ch.AuthorizingID != "" {
		ccv["authorizing_id"] = ch.AuthorizingID
		ccv["authorizing_type"] = "device"
	}
	if ch.OwnerID != "" {
		ccv["owner_id"] = ch.OwnerID
	}
	cause, code := l.hangupCause, l.hangupCode
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	return cdr.Record{
		ID: c.cdrID(l), CallID: l.callID, InteractionID: c.interact, OtherLegCallID: ch.OtherLeg,
		CallDirection: ch.Direction, CallerIDName: l.callerName, CallerIDNumber: l.callerNumber,
		CalleeIDName: l.calleeName, CalleeIDNumber: l.calleeNumber, From: l.fromAOR, To: l.toAOR, Request: l.request,
		DurationSeconds: int64(end.Sub(l.created) / time.Second), BillingSeconds: billing, RingingSeconds: ringing,
		Timestamp: store.GregorianSeconds(l.created), Created: l.created.UTC(), HangupCause: cause, HangupCode: code,
		CustomChannelVars: ccv, MediaServer: c.s.cfg.NodeID, AccountID: c.caller.AccountID,
	}
}

// callerIDFor is the caller ID presented to on-net callees: the internal
// caller_id of the device, else of its owner, else of the account, else
// what the caller's From said.
func (c *call) callerIDFor(ctx context.Context, suppress bool) callerID {
	if suppress {
		return callerID{name: "Anonymous", number: "anonymous"}
	}
	var id callerID
	read := func(typ, docID string) {
		if docID == "" || (id.name != "" && id.number != "") {
			return
		}
		d, err := c.s.d.Docs.Get(ctx, c.caller.AccountID, typ, docID)
		if err != nil {
			return
		}
		cid, _ := d.Body["caller_id"].(map[string]any)
		in, _ := cid["internal"].(map[string]any)
		if n, _ := in["name"].(string); n != "" && id.name == "" {
			id.name = n
		}
		if n, _ := in["number"].(string); n != "" && id.number == "" {
			id.number = n
		}
	}
	read(store.TypeDevice, c.caller.DeviceID)
	read(store.TypeUser, c.caller.OwnerID)
	read(store.TypeAccount, c.caller.AccountID)
	from := c.inv.From()
	if id.name == "" {
		id.name = from.DisplayName
	}
	if id.number == "" {
		id.number = from.Address.User
	}
	if id.name == "" {
		id.name = id.number
	}
	return id
}

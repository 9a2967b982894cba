package callflow

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/validation"
)

// Target is the data the device and user modules share (Kazoo's field
// names): which document to ring and how. Modules embed it in their Config
// (encoding/json and DecodeData flatten the embedded struct) and add their
// own fields.
type Target struct {
	// ID is the document to ring: a device, or a user whose devices ring.
	ID string `json:"id" callflow:"required"`
	// Timeout is how long to ring, in seconds (default 20).
	Timeout int `json:"timeout"`
	// Delay is how long to wait before ringing, in seconds.
	Delay int `json:"delay"`
	// CanCallSelf lets the target's own calls ring it.
	CanCallSelf bool `json:"can_call_self"`
	// CanTextSelf lets the target's own messages reach it.
	CanTextSelf bool `json:"can_text_self"`
	// StaticInvite replaces the Request-URI of the outbound INVITEs.
	StaticInvite string `json:"static_invite"`
	// SuppressCLID withholds the caller's identity from the callees.
	SuppressCLID bool `json:"suppress_clid"`
	// CustomSIPHeaders are added to the outbound INVITEs.
	CustomSIPHeaders map[string]string `json:"custom_sip_headers"`
}

// DefaultTarget returns Kazoo's defaults: ring for 20 s, no delay.
func DefaultTarget() Target { return Target{Timeout: DefaultRingTimeout} }

// Validate records every rule t breaks; fields are relative to data.
func (t *Target) Validate(errs validation.Errors) {
	CheckDocID(errs, "id", t.ID)
	CheckRange(errs, "timeout", t.Timeout, 1, MaxRingTimeout)
	CheckMin(errs, "delay", t.Delay, 0)
	if HasControl(t.StaticInvite) {
		errs.Add("static_invite", "pattern", "Value must not contain control characters")
	}
	CheckSIPHeaders(errs, "custom_sip_headers", t.CustomSIPHeaders)
}

// DecodeTarget is the whole Decode of a module whose Config embeds a
// Target: c is the module's pre-filled config, t its embedded Target, and
// check (optional) validates the module's own fields.
func DecodeTarget(data json.RawMessage, c Config, t *Target, check func(validation.Errors)) (Config, validation.Errors) {
	if errs := DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	t.Validate(errs)
	if check != nil {
		check(errs)
	}
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

// Ring returns what BridgeEndpoints needs to ring the target, whose type
// refType names (RefDevice or RefUser), with the given strategy. The
// request's Timeout is left 0: the endpoint's own window (delay + timeout)
// bounds the attempt.
func (t *Target) Ring(refType, strategy string, failOnSingleReject bool) (refs []RingEndpoint, req BridgeRequest) {
	refs = []RingEndpoint{{EndpointType: refType, ID: t.ID, Delay: t.Delay, Timeout: t.Timeout}}
	req = BridgeRequest{
		Strategy:           strategy,
		Repeats:            1,
		FailOnSingleReject: failOnSingleReject,
		CanCallSelf:        t.CanCallSelf,
		SuppressCLID:       t.SuppressCLID,
		CustomSIPHeaders:   t.CustomSIPHeaders,
	}
	return refs, req
}

// NoData is the config of modules that take no data besides skip_module
// (answer, hangup).
type NoData struct{}

// Refs is empty: such a module names no document.
func (*NoData) Refs() []Ref { return nil }

// DecodeNoData is the Decode of such a module: any key but skip_module is
// rejected.
func DecodeNoData(data json.RawMessage) (Config, validation.Errors) {
	c := &NoData{}
	if errs := DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

// Package user is the "user" callflow module: ring every device of a user
// (following the user's call forwarding and do-not-disturb).
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package user

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "user"

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// ID is the user document whose devices ring.
	ID string `json:"id" callflow:"required"`
	// Timeout is how long to ring, in seconds (default 20).
	Timeout int `json:"timeout"`
	// Strategy is simultaneous (default: all devices at once) or single
	// (one after the other).
	Strategy string `json:"strategy"`
	// Delay is how long to wait before ringing, in seconds.
	Delay int `json:"delay"`
	// CanCallSelf lets the user's own calls ring the user's devices.
	CanCallSelf bool `json:"can_call_self"`
	// CanTextSelf lets the user's own messages reach the user's devices.
	CanTextSelf bool `json:"can_text_self"`
	// FailOnSingleReject ends the ring when any one device rejects the call.
	FailOnSingleReject bool `json:"fail_on_single_reject"`
	// StaticInvite replaces the Request-URI of the outbound INVITEs.
	StaticInvite string `json:"static_invite"`
	// SuppressCLID withholds the caller's identity from the devices.
	SuppressCLID bool `json:"suppress_clid"`
	// CustomSIPHeaders are added to the outbound INVITEs.
	CustomSIPHeaders map[string]string `json:"custom_sip_headers"`
}

// Refs names the user.
func (c *Config) Refs() []callflow.Ref {
	return []callflow.Ref{{Type: callflow.RefUser, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { callflow.Register(module{}) }

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{
		Timeout:  callflow.DefaultRingTimeout,
		Strategy: callflow.StrategySimultaneous,
	}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	callflow.CheckDocID(errs, "id", c.ID)
	callflow.CheckRange(errs, "timeout", c.Timeout, 1, callflow.MaxRingTimeout)
	callflow.CheckEnum(errs, "strategy", c.Strategy, callflow.StrategySimultaneous, callflow.StrategySingle)
	callflow.CheckMin(errs, "delay", c.Delay, 0)
	if callflow.HasControl(c.StaticInvite) {
		errs.Add("static_invite", "pattern", "Value must not contain control characters")
	}
	callflow.CheckSIPHeaders(errs, "custom_sip_headers", c.CustomSIPHeaders)
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

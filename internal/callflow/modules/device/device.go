// Package device is the "device" callflow module: ring one device.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package device

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "device"

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// ID is the device document to ring.
	ID string `json:"id" callflow:"required"`
	// Timeout is how long to ring, in seconds (default 20).
	Timeout int `json:"timeout"`
	// Delay is how long to wait before ringing, in seconds.
	Delay int `json:"delay"`
	// DialStrategy is how the device's registrations are rung:
	// simultaneous (default) or single.
	DialStrategy string `json:"dial_strategy"`
	// CanCallSelf lets the device's own calls ring it.
	CanCallSelf bool `json:"can_call_self"`
	// CanTextSelf lets the device's own messages reach it.
	CanTextSelf bool `json:"can_text_self"`
	// StaticInvite replaces the Request-URI of the outbound INVITE.
	StaticInvite string `json:"static_invite"`
	// SuppressCLID withholds the caller's identity from the device.
	SuppressCLID bool `json:"suppress_clid"`
	// CustomSIPHeaders are added to the outbound INVITE.
	CustomSIPHeaders map[string]string `json:"custom_sip_headers"`
}

// Refs names the device.
func (c *Config) Refs() []callflow.Ref {
	return []callflow.Ref{{Type: callflow.RefDevice, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { callflow.Register(module{}) }

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{
		Timeout:      callflow.DefaultRingTimeout,
		DialStrategy: callflow.StrategySimultaneous,
	}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	callflow.CheckDocID(errs, "id", c.ID)
	callflow.CheckRange(errs, "timeout", c.Timeout, 1, callflow.MaxRingTimeout)
	callflow.CheckMin(errs, "delay", c.Delay, 0)
	callflow.CheckEnum(errs, "dial_strategy", c.DialStrategy, callflow.StrategySimultaneous, callflow.StrategySingle)
	if callflow.HasControl(c.StaticInvite) {
		errs.Add("static_invite", "pattern", "Value must not contain control characters")
	}
	callflow.CheckSIPHeaders(errs, "custom_sip_headers", c.CustomSIPHeaders)
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

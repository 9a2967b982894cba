// Package device is the "device" callflow module: ring one device.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package device

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "device"

// Config is the node's data, with Kazoo's field names: the shared ringing
// target (id, timeout, delay, can_call_self, can_text_self, static_invite,
// suppress_clid, custom_sip_headers) and dial_strategy.
type Config struct {
	callflow.Target
	// DialStrategy is how the device's registrations are rung:
	// simultaneous (default) or single.
	DialStrategy string `json:"dial_strategy"`
}

// Refs names the device.
func (c *Config) Refs() []callflow.Ref {
	return []callflow.Ref{{Type: callflow.RefDevice, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { callflow.Register(module{}) }

var _ callflow.Executor = module{}

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{Target: callflow.DefaultTarget(), DialStrategy: callflow.StrategySimultaneous}
	return callflow.DecodeTarget(data, c, &c.Target, func(errs validation.Errors) {
		callflow.CheckEnum(errs, "dial_strategy", c.DialStrategy, callflow.StrategySimultaneous, callflow.StrategySingle)
	})
}

// Exec rings the device (unless it is missing or disabled: then "_") and
// branches on the outcome (callflow.BridgeOutcome). The device's
// registrations are the B2BUA's business: it forks to all of them.
func (module) Exec(ctx context.Context, call callflow.Call, cfg callflow.Config) (callflow.Result, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return callflow.Result{}, fmt.Errorf("device: config is %T", cfg)
	}
	refs, req := c.Ring(callflow.RefDevice, callflow.StrategySimultaneous, false)
	return callflow.BridgeEndpoints(ctx, call, refs, req)
}

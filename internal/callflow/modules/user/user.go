// Package user is the "user" callflow module: ring every device of a user
// (following the user's call forwarding and do-not-disturb).
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package user

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "user"

// Config is the node's data, with Kazoo's field names: the shared ringing
// target (id, timeout, delay, can_call_self, can_text_self, static_invite,
// suppress_clid, custom_sip_headers), strategy and fail_on_single_reject.
type Config struct {
	callflow.Target
	// Strategy is simultaneous (default: all devices at once) or single
	// (one after the other).
	Strategy string `json:"strategy"`
	// FailOnSingleReject ends the ring when any one device rejects the call.
	FailOnSingleReject bool `json:"fail_on_single_reject"`
}

// Refs names the user.
func (c *Config) Refs() []callflow.Ref {
	return []callflow.Ref{{Type: callflow.RefUser, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { callflow.Register(module{}) }

var _ callflow.Executor = module{}

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{Target: callflow.DefaultTarget(), Strategy: callflow.StrategySimultaneous}
	return callflow.DecodeTarget(data, c, &c.Target, func(errs validation.Errors) {
		callflow.CheckEnum(errs, "strategy", c.Strategy, callflow.StrategySimultaneous, callflow.StrategySingle)
	})
}

// Exec rings every enabled device of the user with the node's strategy
// (all at once by default), each with the node's delay and timeout, and
// branches on the outcome (callflow.BridgeOutcome). A missing or disabled
// user, or one without devices, takes "_".
func (module) Exec(ctx context.Context, call callflow.Call, cfg callflow.Config) (callflow.Result, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return callflow.Result{}, fmt.Errorf("user: config is %T", cfg)
	}
	refs, req := c.Ring(callflow.RefUser, c.Strategy, c.FailOnSingleReject)
	return callflow.BridgeEndpoints(ctx, call, refs, req)
}
